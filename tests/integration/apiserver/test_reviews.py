"""TokenReview, SubjectAccessReview and the self-reviews behind ``kubectl auth can-i`` and ``whoami``.

They are answered by the same token checks and the same RBAC evaluation that guard every
request, so what a review says is what a request would get.
"""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import client
from kubernetes.client.rest import ApiException
from tests.support import Kubectl
from tests.support.identities import apply, service_account_token, token_client, token_kubeconfig

pytestmark = pytest.mark.emulator_only(
    reason="the emulator's own authentication and RBAC (its token issuer, PKI and helpers); on the real "
    "backend both are kube-apiserver's own"
)

RBAC = "rbac.authorization.k8s.io/v1"


def grant_role(
    kubectl: Kubectl, namespace: str, name: str, rules: list[dict], account: str = "robot"
) -> None:
    apply(
        kubectl, {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": name}, "rules": rules}, namespace
    )
    apply(
        kubectl,
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
        namespace,
    )


def token_review(
    api_client: client.ApiClient, token: str, audiences: list[str] | None = None
) -> client.V1TokenReviewStatus:
    spec = client.V1TokenReviewSpec(token=token, audiences=audiences)
    return client.AuthenticationV1Api(api_client).create_token_review(client.V1TokenReview(spec=spec)).status


class TestTokenReview:
    def test_a_valid_token_is_reviewed_as_its_service_account(self, api_client, kubectl, namespace):
        token = service_account_token(kubectl, namespace, "robot")
        status = token_review(api_client, token)
        uid = kubectl("get", "sa", "robot", "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
        assert status.authenticated is True
        assert status.user.username == f"system:serviceaccount:{namespace}:robot"
        assert status.user.uid == uid
        assert status.user.groups == [
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        ]
        assert status.user.extra["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")
        assert status.audiences == ["https://kubernetes.default.svc.cluster.local"]

    def test_audiences_are_matched_like_the_real_server(self, api_client, kubectl, namespace):
        token = service_account_token(kubectl, namespace, "robot", "--audience", "naksha-ingest")
        accepted = token_review(api_client, token, ["naksha-ingest", "other"])
        assert accepted.authenticated is True and accepted.audiences == ["naksha-ingest"]
        refused = token_review(api_client, token)  # defaults to the API server's audience
        assert refused.authenticated is False and "audiences" in refused.error

    def test_forged_and_unknown_tokens_are_not_authenticated(self, api_client, kubectl, namespace):
        claims = jwt.decode(
            service_account_token(kubectl, namespace, "robot"), options={"verify_signature": False}
        )
        forged = jwt.encode(
            claims, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256"
        )
        for token in (forged, "not-a-jwt"):
            status = token_review(api_client, token)
            assert status.authenticated is False and status.error.startswith("[invalid bearer token")

    def test_reviewing_tokens_needs_create_tokenreviews(self, control_plane, kubectl, namespace, tmp_path):
        reviewer = token_client(
            control_plane, service_account_token(kubectl, namespace, "reviewer"), tmp_path
        )
        with pytest.raises(ApiException) as caught:
            token_review(reviewer, "anything")
        assert caught.value.status == 403
        name = f"delegator-{namespace}"
        apply(
            kubectl,
            {
                "apiVersion": RBAC,
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:auth-delegator",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "reviewer", "namespace": namespace}],
            },
        )
        assert (
            token_review(reviewer, service_account_token(kubectl, namespace, "robot")).authenticated is True
        )

    def test_reviews_are_not_stored_or_listed(self, kubectl):
        listing = kubectl("get", "--raw", "/apis/authentication.k8s.io/v1/tokenreviews", check=False)
        assert listing.returncode != 0
        assert "(MethodNotAllowed): GET is not allowed on tokenreviews" in listing.stderr


class TestSubjectAccessReview:
    def review(
        self, api_client: client.ApiClient, namespace: str, **spec: object
    ) -> client.V1SubjectAccessReviewStatus:
        body = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(**spec))
        return client.AuthorizationV1Api(api_client).create_subject_access_review(body).status

    def test_a_review_answers_what_a_request_would_get_and_names_the_granting_binding(
        self, api_client, kubectl, namespace
    ):
        attributes = client.V1ResourceAttributes(
            namespace=namespace,
            verb="patch",
            group="apps",
            resource="deployments",
            subresource="scale",
            name="web",
        )
        user = f"system:serviceaccount:{namespace}:robot"
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]
        assert (
            self.review(
                api_client, namespace, user=user, groups=groups, resource_attributes=attributes
            ).allowed
            is False
        )
        grant_role(
            kubectl,
            namespace,
            "scaler",
            [
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments/scale"],
                    "resourceNames": ["web"],
                    "verbs": ["patch"],
                }
            ],
        )
        status = self.review(api_client, namespace, user=user, groups=groups, resource_attributes=attributes)
        assert status.allowed is True
        binding, account = f"scaler/{namespace}", f"robot/{namespace}"
        assert (
            status.reason
            == f'RBAC: allowed by RoleBinding "{binding}" of Role "scaler" to ServiceAccount "{account}"'
        )

        attributes.name = "other"
        assert (
            self.review(
                api_client, namespace, user=user, groups=groups, resource_attributes=attributes
            ).allowed
            is False
        )

    def test_groups_and_paths_are_reviewed_too(self, api_client, namespace):
        path = client.V1NonResourceAttributes(path="/apis", verb="get")
        assert (
            self.review(
                api_client, namespace, groups=["system:authenticated"], non_resource_attributes=path
            ).allowed
            is True
        )
        assert (
            self.review(api_client, namespace, user="nobody", non_resource_attributes=path).allowed is False
        )  # no groups given
        admin = client.V1ResourceAttributes(verb="delete", resource="nodes", name="local-node")
        assert (
            self.review(
                api_client, namespace, user="root", groups=["system:masters"], resource_attributes=admin
            ).allowed
            is True
        )

    def test_a_review_without_a_subject_or_attributes_is_invalid(self, api_client, namespace):
        path = client.V1NonResourceAttributes(path="/apis", verb="get")
        for spec in ({"non_resource_attributes": path}, {"user": "jane"}):
            with pytest.raises(ApiException) as caught:
                self.review(api_client, namespace, **spec)
            assert caught.value.status == 422

    def test_a_local_review_stays_in_its_namespace(self, api_client, kubectl, namespace):
        api = client.AuthorizationV1Api(api_client)
        grant_role(
            kubectl, namespace, "reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
        )
        spec = client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{namespace}:robot",
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace, verb="list", resource="pods"
            ),
        )
        assert api.create_namespaced_local_subject_access_review(
            namespace, client.V1LocalSubjectAccessReview(spec=spec)
        ).status.allowed
        spec.resource_attributes.namespace = "default"
        with pytest.raises(ApiException) as caught:
            api.create_namespaced_local_subject_access_review(
                namespace, client.V1LocalSubjectAccessReview(spec=spec)
            )
        assert caught.value.status == 422


class TestKubectlAuth:
    def robot(self, control_plane, kubectl, namespace, tmp_path) -> Kubectl:
        return Kubectl(
            token_kubeconfig(
                control_plane, service_account_token(kubectl, namespace, "robot"), tmp_path / "robot"
            )
        )

    def test_can_i_says_no_then_yes_once_a_role_grants_it(self, control_plane, kubectl, namespace, tmp_path):
        robot = self.robot(control_plane, kubectl, namespace, tmp_path)
        question = ("auth", "can-i", "patch", "deployments", "--subresource=scale", "-n", namespace)
        assert robot(*question, check=False).stdout.strip() == "no"
        grant_role(
            kubectl,
            namespace,
            "scaler",
            [{"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]}],
        )
        assert robot(*question).stdout.strip() == "yes"
        assert (
            robot("auth", "can-i", "patch", "deployments", "-n", namespace, check=False).stdout.strip()
            == "no"
        )

    def test_can_i_as_another_user_impersonates_it(self, kubectl, namespace):
        account = f"system:serviceaccount:{namespace}:robot"
        assert (
            kubectl(
                "auth", "can-i", "list", "pods", "-n", namespace, "--as", account, check=False
            ).stdout.strip()
            == "no"
        )
        grant_role(
            kubectl, namespace, "reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
        )
        assert (
            kubectl("auth", "can-i", "list", "pods", "-n", namespace, "--as", account).stdout.strip() == "yes"
        )
        assert kubectl("auth", "can-i", "list", "pods", "-n", namespace).stdout.strip() == "yes"  # the admin

    def test_can_i_list_shows_the_granted_rules(self, control_plane, kubectl, namespace, tmp_path):
        robot = self.robot(control_plane, kubectl, namespace, tmp_path)
        grant_role(
            kubectl,
            namespace,
            "reader",
            [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": ["settings"],
                    "verbs": ["get"],
                }
            ],
        )
        listing = robot("auth", "can-i", "--list", "-n", namespace).stdout
        assert any(line.split()[:3] == ["configmaps", "[]", "[settings]"] for line in listing.splitlines())
        assert "selfsubjectaccessreviews.authorization.k8s.io" in listing

    def test_whoami_names_the_service_account_and_its_groups(
        self, control_plane, kubectl, namespace, tmp_path
    ):
        robot = self.robot(control_plane, kubectl, namespace, tmp_path)
        answer = robot("auth", "whoami").stdout
        assert f"system:serviceaccount:{namespace}:robot" in answer
        assert f"system:serviceaccounts:{namespace}" in answer
        assert "naksha-local-admin" in kubectl("auth", "whoami").stdout
