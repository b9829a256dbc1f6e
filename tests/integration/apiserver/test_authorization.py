"""RBAC on the local control plane: a missing rule is a 403 here, as it would be on a cluster.

Each test acts as a ServiceAccount (its token from ``kubectl create token``) through the real
``kubernetes`` client or kubectl, first without the rule (403, with the real server's message),
then with a Role/ClusterRole and binding that grants exactly it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from tests.support import Kubectl, eventually
from tests.support.identities import apply, service_account_token, token_client, token_kubeconfig

from naksha.local import LocalControlPlane

pytestmark = pytest.mark.emulator_only(
    reason="the emulator's own authentication and RBAC (its token issuer, PKI and helpers); on the real "
    "backend both are kube-apiserver's own"
)

RBAC = "rbac.authorization.k8s.io/v1"


def role(name: str, rules: list[dict[str, Any]], *, cluster: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": RBAC,
        "kind": "ClusterRole" if cluster else "Role",
        "metadata": {"name": name},
        "rules": rules,
    }


def binding(
    name: str, role_kind: str, subjects: list[dict[str, Any]], *, cluster: bool = False
) -> dict[str, Any]:
    return {
        "apiVersion": RBAC,
        "kind": "ClusterRoleBinding" if cluster else "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role_kind,
            "name": name,
        },
        "subjects": subjects,
    }


def account(namespace: str, name: str = "robot") -> list[dict[str, Any]]:
    return [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]


def grant(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    rules: list[dict[str, Any]],
    subjects: list[dict[str, Any]] | None = None,
) -> None:
    """A Role ``name`` with ``rules`` bound to ``subjects`` (default: the ``robot`` account)."""
    apply(kubectl, role(name, rules), namespace)
    apply(kubectl, binding(name, "Role", subjects or account(namespace)), namespace)


def forbidden(call: Any) -> dict[str, Any]:
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == 403, caught.value.body
    body: dict[str, Any] = json.loads(caught.value.body)
    return body


@pytest.fixture
def robot(control_plane, kubectl, namespace, tmp_path) -> client.ApiClient:
    """The real client acting as ServiceAccount ``<namespace>/robot``, which has no rules yet."""
    return token_client(control_plane, service_account_token(kubectl, namespace, "robot"), tmp_path)


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "web:1"}]}}
    return {
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
    }


class TestNamespacedResources:
    def test_a_missing_rule_is_403_with_the_real_message_and_a_role_binding_grants_it(
        self, api_client, robot, kubectl, namespace
    ):
        client.AppsV1Api(api_client).create_namespaced_deployment(namespace, deployment("web"))
        apps = client.AppsV1Api(robot)
        patch = {"spec": {"replicas": 2}}
        status = forbidden(lambda: apps.patch_namespaced_deployment("web", namespace, patch))
        assert status["message"] == (
            f'deployments.apps "web" is forbidden: User "system:serviceaccount:{namespace}:robot" '
            f'cannot patch resource "deployments" in API group "apps" in the namespace "{namespace}"'
        )
        assert status["reason"] == "Forbidden" and status["details"] == {
            "name": "web",
            "group": "apps",
            "kind": "deployments",
        }

        grant(
            kubectl,
            namespace,
            "patcher",
            [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}],
        )
        assert apps.patch_namespaced_deployment("web", namespace, patch).spec.replicas == 2
        forbidden(lambda: apps.delete_namespaced_deployment("web", namespace))  # only what was granted

    def test_list_and_watch_are_verbs_of_their_own(self, robot, kubectl, namespace):
        core = client.CoreV1Api(robot)
        status = forbidden(lambda: core.list_namespaced_config_map(namespace))
        assert status["message"].startswith("configmaps is forbidden: ")
        grant(
            kubectl,
            namespace,
            "lister",
            [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
        )
        assert core.list_namespaced_config_map(namespace).items == []
        forbidden(lambda: core.list_namespaced_config_map(namespace, watch=True, timeout_seconds=1))

    def test_resource_names_limit_a_rule_to_the_named_objects(self, api_client, robot, kubectl, namespace):
        core = client.CoreV1Api(api_client)
        for name in ("mine", "theirs"):
            core.create_namespaced_config_map(namespace, {"metadata": {"name": name}})
        grant(
            kubectl,
            namespace,
            "one",
            [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": ["mine"],
                    "verbs": ["get", "list"],
                }
            ],
        )
        as_robot = client.CoreV1Api(robot)
        assert as_robot.read_namespaced_config_map("mine", namespace).metadata.name == "mine"
        forbidden(lambda: as_robot.read_namespaced_config_map("theirs", namespace))
        forbidden(lambda: as_robot.list_namespaced_config_map(namespace))  # a list names no object

    def test_wildcards_grant_every_verb_group_and_resource(self, robot, kubectl, namespace):
        grant(kubectl, namespace, "all", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
        core = client.CoreV1Api(robot)
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "made"}})
        core.delete_namespaced_config_map("made", namespace)
        assert client.AppsV1Api(robot).list_namespaced_deployment(namespace).items == []
        forbidden(lambda: client.CoreV1Api(robot).list_namespace())  # a Role never reaches cluster scope

    def test_a_binding_to_a_missing_role_says_so(self, robot, kubectl, namespace):
        apply(kubectl, binding("ghost", "Role", account(namespace)), namespace)
        status = forbidden(lambda: client.CoreV1Api(robot).list_namespaced_pod(namespace))
        assert status["message"].endswith('RBAC: role.rbac.authorization.k8s.io "ghost" not found')


class TestSubresources:
    def test_scale_needs_deployments_scale_not_deployments(self, api_client, robot, kubectl, namespace):
        client.AppsV1Api(api_client).create_namespaced_deployment(namespace, deployment("web"))
        grant(
            kubectl,
            namespace,
            "deployer",
            [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}],
        )
        apps = client.AppsV1Api(robot)
        status = forbidden(
            lambda: apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})
        )
        assert (
            f'cannot patch resource "deployments/scale" in API group "apps" in the namespace "{namespace}"'
            in status["message"]
        )
        grant(
            kubectl,
            namespace,
            "scaler",
            [{"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]}],
        )
        assert (
            apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}}).spec.replicas
            == 3
        )

    def test_a_custom_resources_status_needs_its_own_rule(
        self, api_client, robot, kubectl, namespace, naksha_crds
    ):
        sample = json.loads(
            kubectl(
                "create", "--dry-run=client", "-o", "json", "-f", "crds/samples/insightstream.yaml"
            ).stdout
        )
        sample["metadata"]["namespace"] = namespace
        kubectl("apply", "-f", "-", input=json.dumps(sample))
        name = sample["metadata"]["name"]
        custom = client.CustomObjectsApi(robot)
        grant(
            kubectl,
            namespace,
            "streams",
            [{"apiGroups": ["naksha.io"], "resources": ["insightstreams"], "verbs": ["get", "patch"]}],
        )

        def patch_status() -> Any:
            return custom.patch_namespaced_custom_object_status(
                "naksha.io", "v1alpha1", namespace, "insightstreams", name, {"status": {"ingested": 1}}
            )

        status = forbidden(patch_status)
        assert 'cannot patch resource "insightstreams/status" in API group "naksha.io"' in status["message"]
        grant(
            kubectl,
            namespace,
            "stream-status",
            [{"apiGroups": ["naksha.io"], "resources": ["insightstreams/status"], "verbs": ["patch"]}],
        )
        assert patch_status()["status"]["ingested"] == 1

    def test_pod_logs_need_pods_log(self, api_client, robot, kubectl, namespace):
        client.CoreV1Api(api_client).create_namespaced_pod(
            namespace, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
        )
        grant(
            kubectl, namespace, "pod-reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
        )
        core = client.CoreV1Api(robot)
        forbidden(lambda: core.read_namespaced_pod_log("p", namespace))
        grant(
            kubectl,
            namespace,
            "log-reader",
            [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}],
        )
        assert core.read_namespaced_pod_log("p", namespace) == ""


class TestClusterScope:
    def test_cluster_scoped_resources_need_a_cluster_role_binding(self, robot, kubectl, namespace):
        core = client.CoreV1Api(robot)
        status = forbidden(core.list_namespace)
        assert status["message"] == (
            f'namespaces is forbidden: User "system:serviceaccount:{namespace}:robot" '
            'cannot list resource "namespaces" in API group "" at the cluster scope'
        )
        name = f"ns-lister-{namespace}"
        apply(
            kubectl,
            role(name, [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}], cluster=True),
        )
        apply(kubectl, binding(name, "ClusterRole", account(namespace), cluster=True))
        assert namespace in [n.metadata.name for n in core.list_namespace().items]

    def test_a_cluster_role_bound_by_a_role_binding_applies_in_that_namespace_only(
        self, control_plane, kubectl, namespace, robot
    ):
        other = f"{namespace}-other"
        apply(kubectl, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
        name = f"cm-reader-{namespace}"
        apply(
            kubectl,
            role(name, [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}], cluster=True),
        )
        apply(kubectl, binding(name, "ClusterRole", account(namespace)), namespace)
        core = client.CoreV1Api(robot)
        assert core.list_namespaced_config_map(namespace).items == []
        forbidden(lambda: core.list_namespaced_config_map(other))
        forbidden(lambda: core.list_config_map_for_all_namespaces())
        kubectl("delete", "namespace", other)

    def test_aggregated_cluster_roles_take_the_rules_they_select(self, robot, kubectl, namespace):
        name = f"aggregate-{namespace}"
        label = {"naksha.test/aggregate-to": name}
        apply(
            kubectl,
            {
                **role(name, [], cluster=True),
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": label}]},
            },
        )
        part = role(
            f"{name}-part", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}], cluster=True
        )
        part["metadata"]["labels"] = label
        apply(kubectl, part)
        apply(kubectl, binding(name, "ClusterRole", account(namespace)), namespace)
        assert client.CoreV1Api(robot).list_namespaced_secret(namespace).items is not None


class TestSubjectsAndPaths:
    def test_groups_and_users_are_subjects_too(self, kubectl, namespace, tmp_path, control_plane):
        for name in ("first", "second"):
            service_account_token(kubectl, namespace, name)
        grant(
            kubectl,
            namespace,
            "everyone",
            [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
            [
                {
                    "kind": "Group",
                    "name": f"system:serviceaccounts:{namespace}",
                    "apiGroup": "rbac.authorization.k8s.io",
                }
            ],
        )
        for name in ("first", "second"):
            as_account = token_client(
                control_plane, service_account_token(kubectl, namespace, name), tmp_path
            )
            assert client.CoreV1Api(as_account).list_namespaced_pod(namespace).items == []
        denied = kubectl("get", "secrets", "-n", namespace, "--as", "jane", check=False)
        assert 'User "jane" cannot list resource "secrets" in API group "" in the namespace' in denied.stderr
        grant(
            kubectl,
            namespace,
            "jane",
            [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
            [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}],
        )
        kubectl("get", "secrets", "-n", namespace, "--as", "jane")

    def test_impersonation_needs_the_impersonate_verb(
        self, robot, kubectl, namespace, control_plane, tmp_path
    ):
        token = service_account_token(kubectl, namespace, "robot")
        as_robot = Kubectl(token_kubeconfig(control_plane, token, tmp_path / "robot"))
        denied = as_robot("get", "pods", "-n", namespace, "--as", "admin", check=False)
        assert (
            'users "admin" is forbidden' in denied.stderr and "cannot impersonate resource" in denied.stderr
        )

    def test_discovery_is_open_to_every_authenticated_user_and_other_paths_need_a_rule(
        self, robot, kubectl, namespace, control_plane, tmp_path
    ):
        token = service_account_token(kubectl, namespace, "robot")
        for path, expected in (("/apis", 200), ("/version", 200), ("/api/v1", 200), ("/metrics", 403)):
            request = urllib.request.Request(
                control_plane.url + path, headers={"Authorization": f"Bearer {token}"}
            )
            try:
                code = urllib.request.urlopen(
                    request, timeout=5, context=control_plane.client_ssl_context(admin=False)
                ).status
            except urllib.error.HTTPError as error:
                code = error.code
                assert (
                    json.loads(error.read())["message"]
                    == f'forbidden: User "system:serviceaccount:{namespace}:robot" cannot get path "{path}"'
                )
            assert code == expected, path
        name = f"metrics-{namespace}"
        apply(kubectl, role(name, [{"nonResourceURLs": ["/metr*"], "verbs": ["get"]}], cluster=True))
        apply(kubectl, binding(name, "ClusterRole", account(namespace), cluster=True))
        request = urllib.request.Request(
            control_plane.url + "/metrics", headers={"Authorization": f"Bearer {token}"}
        )
        assert (
            urllib.request.urlopen(
                request, timeout=5, context=control_plane.client_ssl_context(admin=False)
            ).status
            == 200
        )

    def test_kubectl_as_a_service_account_gets_what_its_role_allows(
        self, kubectl, namespace, control_plane, tmp_path
    ):
        as_robot = Kubectl(
            token_kubeconfig(
                control_plane, service_account_token(kubectl, namespace, "robot"), tmp_path / "k"
            )
        )
        denied = as_robot("get", "pods", "-n", namespace, check=False)
        assert "Error from server (Forbidden): pods is forbidden:" in denied.stderr
        grant(kubectl, namespace, "pods", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
        assert "No resources found" in as_robot("get", "pods", "-n", namespace).stderr


def test_always_allow_lets_any_authenticated_user_do_anything(tmp_path):
    with LocalControlPlane(state_dir=tmp_path, kubelet=False, authorization_mode="always-allow") as plane:
        kubectl = Kubectl(plane.kubeconfig_path)
        eventually(lambda: kubectl("get", "sa", "default", check=False).returncode == 0)
        token = kubectl("create", "token", "default").stdout.strip()
        as_default = token_client(plane, token, tmp_path)
        assert len(client.CoreV1Api(as_default).list_namespace().items) >= 4
        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(token_client(plane, token + "x", tmp_path)).list_namespace()
        assert caught.value.status == 401


def test_an_unknown_authorization_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown authorization mode 'webhook'"):
        LocalControlPlane(state_dir=tmp_path, kubelet=False, authorization_mode="webhook")
