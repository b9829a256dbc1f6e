"""Pods of the local kubelet act as their ServiceAccount, with the credentials a cluster's kubelet gives.

Each pod's process gets ``KUBECONFIG`` pointing at its own kubeconfig, which reads a token
file bound to the pod and refreshed before it expires. The tests use that kubeconfig with the
real ``kubernetes`` client exactly as the pod's process does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from tests.support import eventually, free_port
from tests.support.identities import apply

from naksha.local import LocalControlPlane

pytestmark = pytest.mark.emulator_only(
    reason="the local kubelet's pod credentials; the real backend's node agent does not mint pod tokens yet"
)

RBAC = "rbac.authorization.k8s.io/v1"


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

        assert environment(pid)["KUBECONFIG"] == str(directory / "kubeconfig")
        kubeconfig = yaml.safe_load((directory / "kubeconfig").read_text())
        assert kubeconfig["users"][0]["user"] == {"tokenFile": str(directory / "serviceaccount" / "token")}
        assert (directory / "serviceaccount" / "namespace").read_text() == namespace
        assert (directory / "serviceaccount" / "ca.crt").read_bytes() == control_plane.ca.certificate
        claims = jwt.decode(
            (directory / "serviceaccount" / "token").read_text(), options={"verify_signature": False}
        )
        assert claims["sub"] == f"system:serviceaccount:{namespace}:robot"
        assert claims["kubernetes.io"]["pod"] == {"name": "app", "uid": created.metadata.uid}

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
        assert as_pod.list_namespaced_config_map(namespace).items == []
        with pytest.raises(ApiException) as caught:
            as_pod.list_namespaced_secret(namespace)
        assert caught.value.status == 403
        assert (
            f'User "system:serviceaccount:{namespace}:robot" cannot list resource "secrets"'
            in json.loads(caught.value.body)["message"]
        )

    def test_a_pod_without_an_account_name_acts_as_default(self, control_plane, api_client, namespace):
        core = client.CoreV1Api(api_client)
        core.create_namespaced_pod(namespace, pod("plain"))
        running_process(core, namespace, "plain")
        token = (pod_directory(control_plane, namespace, "plain") / "serviceaccount" / "token").read_text()
        assert (
            jwt.decode(token, options={"verify_signature": False})["sub"]
            == f"system:serviceaccount:{namespace}:default"
        )

    def test_a_pod_naming_a_missing_account_waits_for_it(self, api_client, kubectl, namespace):
        core = client.CoreV1Api(api_client)
        core.create_namespaced_pod(namespace, pod("early", "later"))

        def waiting() -> str | None:
            statuses = core.read_namespaced_pod("early", namespace).status.container_statuses or []
            return statuses[0].state.waiting.message if statuses and statuses[0].state.waiting else None

        assert 'serviceaccount "later" not found' in eventually(waiting)
        apply(
            kubectl, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "later"}}, namespace
        )
        running_process(core, namespace, "early")

    def test_no_token_is_mounted_when_the_pod_opts_out(self, control_plane, api_client, namespace):
        core = client.CoreV1Api(api_client)
        core.create_namespaced_pod(namespace, pod("opted-out", automountServiceAccountToken=False))
        running_process(core, namespace, "opted-out")
        directory = pod_directory(control_plane, namespace, "opted-out")
        assert not (directory / "serviceaccount" / "token").exists()
        as_pod = config.new_client_from_config(config_file=str(directory / "kubeconfig"))
        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(as_pod).list_namespaced_pod(namespace)
        assert caught.value.status == 401


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
