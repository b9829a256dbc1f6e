"""Pods act as their ServiceAccount, with the credentials a cluster's kubelet gives, on both backends.

Each pod's process gets ``KUBECONFIG`` pointing at its own kubeconfig, which reads a token
file bound to the pod and refreshed before it expires, and ``KUBERNETES_SERVICE_HOST``/``PORT``
naming the API server. On the emulator the local kubelet signs the token; on the real backend the
node agent asks kube-apiserver's TokenRequest API for it. The tests use that kubeconfig with the
real ``kubernetes`` client exactly as the pod's process does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from tests.support import eventually, free_port
from tests.support.identities import apply, token_client

from naksha.local import LocalControlPlane
from naksha.local.kubelet.credentials import MAX_TOKEN_AGE_SECONDS

RBAC = "rbac.authorization.k8s.io/v1"
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"  # both backends' issuer and API audience


@pytest.fixture
def namespace(fresh_namespace: str) -> str:
    return fresh_namespace


def pod(name: str, account: str | None = None, **spec: Any) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": "naksha:test",
        "command": ["naksha", "demo-app", "--port", str(free_port())],
    }
    body: dict[str, Any] = {"metadata": {"name": name}, "spec": {"containers": [container], **spec}}
    if account:
        body["spec"]["serviceAccountName"] = account
    return body


def pod_directory(plane: Any, namespace: str, name: str) -> Path:
    return Path(plane.state_dir) / "pods" / namespace / name


def running_process(core: client.CoreV1Api, namespace: str, name: str) -> int:
    def started() -> int | None:
        statuses = core.read_namespaced_pod(name, namespace).status.container_statuses or []
        ids = [s.container_id for s in statuses if s.state.running and s.container_id]
        return int(ids[0].removeprefix("local://")) if ids else None

    return int(eventually(started))


def environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in raw if b"=" in entry)


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


class TestAPodsIdentity:
    def test_a_pod_process_gets_a_kubeconfig_of_its_service_account(
        self, control_plane, api_client, kubectl, namespace
    ):
        apply(
            kubectl, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}, namespace
        )
        core = client.CoreV1Api(api_client)
        created = core.create_namespaced_pod(namespace, pod("app", "robot"))
        pid = running_process(core, namespace, "app")
        directory = pod_directory(control_plane, namespace, "app")

        env = environment(pid)
        assert env["KUBECONFIG"] == str(directory / "kubeconfig")
        server = urlsplit(control_plane.url)
        assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == (
            server.hostname,
            str(server.port),
        )
        kubeconfig = yaml.safe_load((directory / "kubeconfig").read_text())
        assert kubeconfig["users"][0]["user"] == {"tokenFile": str(directory / "serviceaccount" / "token")}
        assert kubeconfig["clusters"][0]["cluster"]["server"] == control_plane.url
        assert (directory / "serviceaccount" / "namespace").read_text() == namespace
        ca = (Path(control_plane.state_dir) / "pki" / "ca.crt").read_bytes()
        assert (directory / "serviceaccount" / "ca.crt").read_bytes() == ca
        claims = claims_of((directory / "serviceaccount" / "token").read_text())
        assert claims["sub"] == f"system:serviceaccount:{namespace}:robot"
        assert claims["aud"] == [API_AUDIENCE]
        assert claims["kubernetes.io"]["pod"] == {"name": "app", "uid": created.metadata.uid}
        assert claims["exp"] - claims["iat"] >= 3600
        # Nothing of the admin's identity reaches the pod.
        assert "client-certificate" not in (directory / "kubeconfig").read_text()
        assert all(value != str(control_plane.kubeconfig_path) for value in env.values())

    def test_a_pod_can_do_what_its_role_allows_and_gets_403_otherwise(
        self, control_plane, api_client, kubectl, namespace
    ):
        apply(
            kubectl, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}, namespace
        )
        rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
        apply(
            kubectl,
            {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "reader"}, "rules": [rule]},
            namespace,
        )
        binding = {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": namespace}],
        }
        apply(kubectl, binding, namespace)
        core = client.CoreV1Api(api_client)
        core.create_namespaced_pod(namespace, pod("reader", "robot"))
        pid = running_process(core, namespace, "reader")

        # The very kubeconfig the pod's process was started with.
        as_pod = client.CoreV1Api(config.new_client_from_config(config_file=environment(pid)["KUBECONFIG"]))
        listed = {c.metadata.name for c in as_pod.list_namespaced_config_map(namespace).items}
        assert listed <= {"kube-root-ca.crt"}  # the real controllers publish the CA in every namespace
        with pytest.raises(ApiException) as caught:
            as_pod.list_namespaced_secret(namespace)
        assert caught.value.status == 403
        assert (
            f'User "system:serviceaccount:{namespace}:robot" cannot list resource "secrets"'
            in json.loads(caught.value.body)["message"]
        )

    def test_a_pod_without_an_account_name_acts_as_default(self, control_plane, api_client, namespace):
        core = client.CoreV1Api(api_client)
        eventually(lambda: core.read_namespaced_service_account("default", namespace))
        core.create_namespaced_pod(namespace, pod("plain"))
        running_process(core, namespace, "plain")
        token = (pod_directory(control_plane, namespace, "plain") / "serviceaccount" / "token").read_text()
        assert claims_of(token)["sub"] == f"system:serviceaccount:{namespace}:default"

    def test_a_token_stops_working_once_its_pod_is_deleted(
        self, control_plane, api_client, namespace, tmp_path
    ):
        core = client.CoreV1Api(api_client)
        eventually(lambda: core.read_namespaced_service_account("default", namespace))
        core.create_namespaced_pod(namespace, pod("bound"))
        running_process(core, namespace, "bound")
        token = (pod_directory(control_plane, namespace, "bound") / "serviceaccount" / "token").read_text()
        as_pod = client.VersionApi(token_client(control_plane, token, tmp_path))
        assert as_pod.get_code().git_version.startswith("v1.")
        core.delete_namespaced_pod("bound", namespace, grace_period_seconds=0)
        eventually(
            lambda: not core.list_namespaced_pod(namespace, field_selector="metadata.name=bound").items
        )

        def refused() -> bool:
            with pytest.raises(ApiException) as caught:
                client.CoreV1Api(token_client(control_plane, token, tmp_path)).list_namespaced_pod(namespace)
            return caught.value.status == 401

        assert eventually(refused, timeout=30)

    def test_a_pod_naming_a_missing_account_waits_for_it(self, api_client, kubectl, namespace, backend):
        core = client.CoreV1Api(api_client)
        if backend == "real":
            # kube-apiserver's ServiceAccount admission refuses such a pod outright; the node agent
            # waits for an account deleted after its pod was admitted, as below on the emulator.
            with pytest.raises(ApiException) as refused:
                core.create_namespaced_pod(namespace, pod("early", "later"))
            message = json.loads(refused.value.body)["message"]
            assert refused.value.status == 403 and 'serviceaccount "later" not found' in message
            return
        core.create_namespaced_pod(namespace, pod("early", "later"))

        def waiting() -> str | None:
            statuses = core.read_namespaced_pod("early", namespace).status.container_statuses or []
            return statuses[0].state.waiting.message if statuses and statuses[0].state.waiting else None

        assert 'serviceaccount "later" not found' in eventually(waiting)
        apply(
            kubectl, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "later"}}, namespace
        )
        running_process(core, namespace, "early")

    def test_no_token_is_mounted_when_the_pod_opts_out(self, control_plane, api_client, namespace, backend):
        core = client.CoreV1Api(api_client)
        eventually(lambda: core.read_namespaced_service_account("default", namespace))
        core.create_namespaced_pod(namespace, pod("opted-out", automountServiceAccountToken=False))
        running_process(core, namespace, "opted-out")
        directory = pod_directory(control_plane, namespace, "opted-out")
        assert not (directory / "serviceaccount" / "token").exists()
        as_pod = config.new_client_from_config(config_file=str(directory / "kubeconfig"))
        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(as_pod).list_namespaced_pod(namespace)
        if backend == "real":  # kube-apiserver lets anonymous requests through to RBAC, which refuses them
            message = json.loads(caught.value.body)["message"]
            assert caught.value.status == 403 and 'User "system:anonymous"' in message
        else:
            assert caught.value.status == 401


@pytest.mark.emulator_only(
    reason="a real TokenRequest lives at least 10 minutes; the test shortens it to 10 s"
)
def test_the_token_file_is_refreshed_before_it_expires(tmp_path):
    with LocalControlPlane(state_dir=tmp_path, pod_token_seconds=10) as plane:
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
        core = client.CoreV1Api(api)
        eventually(lambda: core.read_namespaced_service_account("default", "default"))
        core.create_namespaced_pod("default", pod("refreshing"))
        running_process(core, "default", "refreshing")
        token_file = pod_directory(plane, "default", "refreshing") / "serviceaccount" / "token"
        first = token_file.read_text()
        first_expiry = jwt.decode(first, options={"verify_signature": False})["exp"]

        second = eventually(lambda: (t := token_file.read_text()) != first and t, timeout=20)
        claims = jwt.decode(second, options={"verify_signature": False})
        assert claims["exp"] > first_expiry
        assert claims["iat"] < first_expiry  # written before the first one expired
        as_pod = config.new_client_from_config(config_file=str(token_file.parent.parent / "kubeconfig"))
        assert client.VersionApi(as_pod).get_code().git_version.startswith("v1.")


def test_the_node_renews_a_token_once_80_percent_of_its_lifetime_passed_or_a_day_at_most(
    control_plane, api_client, fresh_namespace
):
    core = client.CoreV1Api(api_client)
    eventually(lambda: core.read_namespaced_service_account("default", fresh_namespace))
    core.create_namespaced_pod(fresh_namespace, pod("renewing"))
    running_process(core, fresh_namespace, "renewing")
    credentials = control_plane.kubelet.runners[(fresh_namespace, "renewing")].credentials
    token = (
        pod_directory(control_plane, fresh_namespace, "renewing") / "serviceaccount" / "token"
    ).read_text()
    claims = claims_of(token)
    # kube-apiserver signs a token asked for 3607 s valid for a year (to spot clients that never
    # re-read theirs) but answers the 3607 s it was asked for: the renewal follows that answer, as
    # the kubelet's does.
    assert claims["iat"] + 3600 <= credentials.expires_at <= claims["exp"]
    lifetime = credentials.expires_at - claims["iat"]
    expected = claims["iat"] + min(0.8 * lifetime, MAX_TOKEN_AGE_SECONDS)
    assert abs(credentials.refresh_at - expected) < 5
    assert time.time() < credentials.refresh_at < credentials.expires_at
