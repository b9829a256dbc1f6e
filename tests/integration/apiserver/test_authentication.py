"""Authentication on the local control plane: every request carries credentials, as on a real cluster.

The admin kubeconfig authenticates with a client certificate in ``system:masters``; anything
else is a ServiceAccount token (``kubectl create token``, TokenRequest), checked like the real
server checks bound tokens. No credentials, or credentials that do not verify, get 401.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import client
from kubernetes.client.rest import ApiException
from tests.support import eventually
from tests.support.identities import apply, service_account_token, token_client, token_kubeconfig

pytestmark = pytest.mark.emulator_only(
    reason="the emulator's own authentication and RBAC (its token issuer, PKI and helpers); on the real "
    "backend both are kube-apiserver's own"
)


def _get(control_plane: Any, path: str, *, token: str | None = None, admin: bool = False) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{control_plane.url}{path}", headers=headers)
    try:
        with urllib.request.urlopen(
            request, timeout=5, context=control_plane.client_ssl_context(admin=admin)
        ) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}


class TestRequestsWithoutValidCredentials:
    def test_a_request_without_credentials_gets_401_with_a_status_body(self, control_plane, namespace):
        for path in ("/api/v1/namespaces", f"/api/v1/namespaces/{namespace}/configmaps", "/version", "/apis"):
            assert _get(control_plane, path) == (401, UNAUTHORIZED)

    def test_kubectl_with_a_token_that_is_not_one_is_told_to_log_in(self, control_plane, kubectl, tmp_path):
        kubeconfig = token_kubeconfig(control_plane, "not-a-token", tmp_path / "kubeconfig")
        result = type(kubectl)(kubeconfig)("get", "pods", check=False)
        assert result.returncode != 0
        assert "must be logged in to the server" in result.stderr

    def test_a_forged_token_gets_401(self, control_plane, kubectl, namespace):
        genuine = jwt.decode(
            service_account_token(kubectl, namespace, "default"), options={"verify_signature": False}
        )
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(genuine, other_key, algorithm="RS256")
        assert _get(control_plane, f"/api/v1/namespaces/{namespace}/pods", token=forged)[0] == 401
        unsigned = jwt.encode(genuine, None, algorithm="none")
        assert _get(control_plane, f"/api/v1/namespaces/{namespace}/pods", token=unsigned)[0] == 401

    def test_an_expired_token_gets_401(self, control_plane, kubectl, namespace):
        service_account_token(kubectl, namespace, "default")  # waits for the account
        account = control_plane.emulator.store.get("/v1/serviceaccounts", namespace, "default")
        expired, _ = control_plane.emulator.tokens.issue(account, seconds=-5)
        fresh, _ = control_plane.emulator.tokens.issue(account, seconds=600)
        assert _get(control_plane, "/apis", token=fresh)[0] == 200
        assert _get(control_plane, "/apis", token=expired) == (401, UNAUTHORIZED)

    def test_a_token_for_another_audience_gets_401(self, control_plane, kubectl, namespace):
        token = service_account_token(
            kubectl, namespace, "default", "--audience", "https://elsewhere.example"
        )
        assert _get(control_plane, "/apis", token=token)[0] == 401

    def test_a_token_stops_working_when_its_account_is_deleted_or_recreated(
        self, control_plane, kubectl, namespace
    ):
        token = service_account_token(kubectl, namespace, "robot")
        assert _get(control_plane, "/apis", token=token)[0] == 200
        kubectl("delete", "serviceaccount", "robot", "-n", namespace)
        assert _get(control_plane, "/apis", token=token)[0] == 401
        apply(
            kubectl, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}, namespace
        )
        assert _get(control_plane, "/apis", token=token)[0] == 401  # a new uid


class TestAdminCredentials:
    def test_the_written_kubeconfig_authenticates_kubectl_and_the_python_client(self, kubectl, api_client):
        assert "default" in kubectl("get", "namespaces", "-o", "name").stdout
        names = [ns.metadata.name for ns in client.CoreV1Api(api_client).list_namespace().items]
        assert "kube-system" in names

    def test_the_api_is_served_over_tls_with_the_control_planes_own_ca(self, control_plane):
        assert control_plane.url.startswith("https://127.0.0.1:")
        assert _get(control_plane, "/version", admin=True)[0] == 200


class TestServiceAccounts:
    def test_every_namespace_gets_a_default_service_account(self, kubectl, namespace):
        eventually(lambda: kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0)

    def test_a_deleted_default_service_account_comes_back(self, kubectl, namespace):
        eventually(lambda: kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0)
        old = kubectl("get", "sa", "default", "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
        kubectl("delete", "sa", "default", "-n", namespace)
        eventually(
            lambda: (
                kubectl(
                    "get", "sa", "default", "-n", namespace, "-o", "jsonpath={.metadata.uid}", check=False
                ).stdout
                not in ("", old)
            )
        )

    def test_kubectl_create_token_issues_a_bound_expiring_jwt_with_the_real_claims(
        self, control_plane, kubectl, namespace
    ):
        token = service_account_token(
            kubectl, namespace, "robot", "--duration", "15m", "--audience", "api", "--audience", "ingest"
        )
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
        uid = kubectl("get", "sa", "robot", "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
        assert header["alg"] == "RS256" and header["kid"]
        assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
        assert claims["sub"] == f"system:serviceaccount:{namespace}:robot"
        assert claims["aud"] == ["api", "ingest"]
        assert claims["exp"] - claims["iat"] == 900 and claims["nbf"] == claims["iat"]
        assert claims["kubernetes.io"] == {
            "namespace": namespace,
            "serviceaccount": {"name": "robot", "uid": uid},
        }
        assert abs(claims["iat"] - time.time()) < 60

    def test_the_token_verifies_against_the_published_key_set(self, control_plane, kubectl, namespace):
        token = service_account_token(kubectl, namespace, "default")
        status, keys = _get(control_plane, "/openid/v1/jwks", token=token)
        assert status == 200
        key = jwt.PyJWKSet.from_dict(keys)[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(
            token, key, algorithms=["RS256"], audience="https://kubernetes.default.svc.cluster.local"
        )
        assert claims["sub"] == f"system:serviceaccount:{namespace}:default"

    def test_a_token_request_with_a_too_short_lifetime_is_invalid(self, api_client, namespace, kubectl):
        service_account_token(kubectl, namespace, "default")
        core = client.CoreV1Api(api_client)
        with pytest.raises(ApiException) as caught:
            core.create_namespaced_service_account_token(
                "default", namespace, {"spec": {"audiences": ["api"], "expirationSeconds": 60}}
            )
        assert caught.value.status == 422
        assert "may not specify a duration less than 10 minutes" in caught.value.body

    def test_a_token_bound_to_a_pod_dies_with_the_pod(self, control_plane, api_client, namespace, kubectl):
        service_account_token(kubectl, namespace, "default")
        core = client.CoreV1Api(api_client)
        pod = core.create_namespaced_pod(
            namespace,
            {"metadata": {"name": "holder"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}},
        )
        request = {
            "spec": {
                "boundObjectRef": {
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "name": "holder",
                    "uid": pod.metadata.uid,
                }
            }
        }
        token = core.create_namespaced_service_account_token("default", namespace, request).status.token
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["kubernetes.io"]["pod"] == {"name": "holder", "uid": pod.metadata.uid}
        assert _get(control_plane, "/apis", token=token)[0] == 200
        core.delete_namespaced_pod("holder", namespace, grace_period_seconds=0)
        eventually(lambda: _get(control_plane, "/apis", token=token)[0] == 401)

    def test_the_python_client_authenticates_with_a_service_account_token(
        self, control_plane, kubectl, namespace, tmp_path
    ):
        token = service_account_token(kubectl, namespace, "default")
        as_account = token_client(control_plane, token, tmp_path)
        assert client.VersionApi(as_account).get_code().git_version.startswith("v1.")
