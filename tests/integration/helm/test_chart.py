"""The Helm chart lints, installs into the local control plane, runs the operator, and uninstalls.

Helm's library needs Python >= 3.12, so it runs in its own virtualenv (``make helm-venv``) behind
``helm_driver.py``; these tests skip, saying why, when that virtualenv is missing. Releases are
stored with ``HELM_DRIVER=memory``: Helm writes its release Secrets in protobuf, which the local
control plane does not speak.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from tests.support import ROOT, eventually, free_port

from naksha import __version__

HELM_PYTHON = ROOT / ".venv-helm" / "bin" / "python"
CHART = str(ROOT / "charts" / "naksha")
pytestmark = pytest.mark.skipif(
    not HELM_PYTHON.exists(),
    reason="Helm's library needs the Python 3.12 virtualenv (.venv-helm, made by `make helm-venv`); "
    "no Python 3.12 was found on this machine",
)


class Helm:
    def __init__(self, kubeconfig: Path) -> None:
        self.process = subprocess.Popen(
            [str(HELM_PYTHON), str(Path(__file__).with_name("helm_driver.py")), str(kubeconfig)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "HELM_DRIVER": "memory"},
        )

    def __call__(self, action: str, **request: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"action": action, **request}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        assert answer["ok"], answer["error"]
        return answer["result"]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def helm(control_plane: Any, naksha_crds: None) -> Iterator[Helm]:
    driver = Helm(Path(control_plane.kubeconfig_path))
    yield driver
    driver.close()


@pytest.fixture
def release_namespace() -> str:
    return f"helm-{uuid.uuid4().hex[:6]}"


def rules_of(role: Any) -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    def rows(rules: list[dict[str, Any]]) -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
        return sorted(
            (
                tuple(r.get("apiGroups") or ()),
                tuple(sorted(r.get("resources") or ())),
                tuple(sorted(r["verbs"])),
            )
            for r in rules
        )

    if isinstance(role, dict):
        return rows(role["rules"])
    return rows([r.to_dict() | {"apiGroups": r.api_groups} for r in role.rules])


def manifest_role() -> dict[str, Any]:
    documents = yaml.safe_load_all((ROOT / "manifests" / "rbac.yaml").read_text())
    return next(d for d in documents if d["kind"] == "ClusterRole")


def test_the_chart_lints_without_errors(helm):
    result = helm("lint", chart=CHART)
    assert result["TotalChartsLinted"] == 1
    assert not result["Errors"]
    assert all(message["Severity"] < 2 for message in result["Messages"] or [])  # info only, no warnings


def test_install_creates_the_operator_objects_with_the_manifests_rbac_and_uninstall_removes_them(
    helm, api_client, release_namespace
):
    values = {"image": {"repository": "example.com/simulated"}}  # a simulated image: no process starts
    helm("install", release="nk", chart=CHART, namespace=release_namespace, values=values)
    apps, core, rbac = (
        client.AppsV1Api(api_client),
        client.CoreV1Api(api_client),
        client.RbacAuthorizationV1Api(api_client),
    )
    deployment = apps.read_namespaced_deployment("nk-naksha", release_namespace)
    container = deployment.spec.template.spec.containers[0]
    assert container.image == f"example.com/simulated:{__version__}" and container.args == ["operator"]
    assert container.security_context.read_only_root_filesystem is True
    assert core.read_namespaced_service_account("nk-naksha", release_namespace)
    assert core.read_namespaced_service("nk-naksha-metrics", release_namespace).spec.ports[0].port == 9090
    binding = rbac.read_cluster_role_binding("nk-naksha")
    assert (binding.subjects[0].name, binding.subjects[0].namespace) == ("nk-naksha", release_namespace)
    assert rules_of(rbac.read_cluster_role("nk-naksha")) == rules_of(manifest_role())

    helm("uninstall", release="nk", namespace=release_namespace)
    with pytest.raises(client.ApiException):
        apps.read_namespaced_deployment("nk-naksha", release_namespace)
    with pytest.raises(client.ApiException):
        rbac.read_cluster_role("nk-naksha")


def ports_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return list(spec.get("ports") or []) + [port for c in containers for port in c.get("ports") or []]


def test_a_server_side_applied_install_gives_every_port_a_protocol(helm, api_client, release_namespace):
    values = {"image": {"repository": "example.com/simulated"}, "api": {"secretName": "agent-api"}}
    release = helm(
        "install",
        release="ssa",
        chart=CHART,
        namespace=release_namespace,
        values=values,
        server_side_apply=True,
    )
    try:
        rendered = [d for d in yaml.safe_load_all(release["manifest"]) if d]
        ports = [port for d in rendered for port in ports_of(d)]
        # The operator's five, the hub's container port and its Service's.
        assert len(ports) == 7 and all(port["protocol"] == "TCP" for port in ports), ports
        core = client.CoreV1Api(api_client)
        for service in ("ssa-naksha-metrics", "ssa-naksha-api"):
            assert core.read_namespaced_service(service, release_namespace).spec.ports[0].protocol == "TCP"
    finally:
        helm("uninstall", release="ssa", namespace=release_namespace)


def test_values_select_namespaces_and_can_leave_rbac_to_the_user(helm, api_client, release_namespace):
    values = {
        "image": {"repository": "example.com/simulated", "tag": "dev"},
        "watchNamespaces": ["team-a", "team-b"],
        "serviceAccount": {"create": False, "name": "existing"},
        "rbac": {"create": False},
        "killSwitch": True,
        "api": {"secretName": "agent-api"},
        "agentJobServiceAccount": "naksha-agent",
    }
    helm("install", release="custom", chart=CHART, namespace=release_namespace, values=values)
    try:
        spec = (
            client.AppsV1Api(api_client).read_namespaced_deployment("custom-naksha", release_namespace).spec
        )
        env = {e.name: e.value for e in spec.template.spec.containers[0].env}
        assert env["NAKSHA_NAMESPACES"] == "team-a,team-b" and env["NAKSHA_KILL_SWITCH"] == "true"
        assert spec.template.spec.service_account_name == "existing"
        assert env["NAKSHA_AGENT_JOB_SERVICE_ACCOUNT"] == "naksha-agent" and env["NAKSHA_API_PORT"] == "8080"
        assert env["NAKSHA_API_AUTH"] == "hs256"  # a token Secret alone keeps the shared-secret mode
        secret = next(e for e in spec.template.spec.containers[0].env if e.name == "NAKSHA_API_JWT_SECRET")
        assert (secret.value_from.secret_key_ref.name, secret.value_from.secret_key_ref.key) == (
            "agent-api",
            "jwt-secret",
        )
        api_service = client.CoreV1Api(api_client).read_namespaced_service(
            "custom-naksha-api", release_namespace
        )
        assert api_service.spec.ports[0].port == 8080
        names = [r.metadata.name for r in client.RbacAuthorizationV1Api(api_client).list_cluster_role().items]
        assert "custom-naksha" not in names
    finally:
        helm("uninstall", release="custom", namespace=release_namespace)


def test_the_api_in_kubernetes_mode_serves_tls_from_a_secret(helm, api_client, release_namespace):
    values = {
        "image": {"repository": "example.com/simulated"},
        "api": {"auth": "kubernetes", "tls": {"secretName": "naksha-api-tls"}},
    }
    helm("install", release="tls", chart=CHART, namespace=release_namespace, values=values)
    try:
        pod = (
            client.AppsV1Api(api_client)
            .read_namespaced_deployment("tls-naksha", release_namespace)
            .spec.template
        )
        container = pod.spec.containers[0]
        env = {e.name: e.value for e in container.env}
        assert env["NAKSHA_API_AUTH"] == "kubernetes" and env["NAKSHA_API_AUDIENCES"] == "naksha"
        assert env["NAKSHA_API_TLS_DIR"] == "/etc/naksha/api-tls"
        assert "NAKSHA_API_JWT_SECRET" not in env
        mount = next(m for m in container.volume_mounts if m.name == "api-tls")
        volume = next(v for v in pod.spec.volumes if v.name == "api-tls")
        assert (mount.mount_path, mount.read_only) == ("/etc/naksha/api-tls", True)
        assert volume.secret.secret_name == "naksha-api-tls"
        assert client.CoreV1Api(api_client).read_namespaced_service("tls-naksha-api", release_namespace)
    finally:
        helm("uninstall", release="tls", namespace=release_namespace)


def test_the_installed_operator_runs_and_handles_its_namespace(helm, api_client, release_namespace):
    # The chart's own image runs as a real operator process on the local kubelet.
    values = {
        "watchNamespaces": [release_namespace],
        "metrics": {"port": free_port()},
        "health": {"port": free_port()},
    }
    helm("install", release="live", chart=CHART, namespace=release_namespace, values=values)
    try:
        apps = client.AppsV1Api(api_client)
        eventually(
            lambda: (
                apps.read_namespaced_deployment("live-naksha", release_namespace).status.available_replicas
                == 1
            ),
            timeout=60,
        )
        custom = client.CustomObjectsApi(api_client)
        edge = {
            "apiVersion": "naksha.io/v1alpha1",
            "kind": "EdgeNode",
            "metadata": {"name": "e1"},
            "spec": {"identity": {"nodeId": "e1"}},
        }
        custom.create_namespaced_custom_object("naksha.io", "v1alpha1", release_namespace, "edgenodes", edge)
        eventually(
            lambda: (
                custom.get_namespaced_custom_object(
                    "naksha.io", "v1alpha1", release_namespace, "edgenodes", "e1"
                )["status"]["phase"]
                == "NotRegistered"  # accepted, and waiting for its edge agent's first registration
            ),
            timeout=30,
        )
    finally:
        helm("uninstall", release="live", namespace=release_namespace)


def test_the_plain_manifests_declare_exactly_the_expected_kinds_and_apply(kubectl):
    kinds = sorted(
        d["kind"]
        for path in sorted((ROOT / "manifests").glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for d in yaml.safe_load_all(path.read_text())
        if d
    )
    assert kinds == [
        "ClusterRole",  # the operator's
        "ClusterRole",  # naksha-access-reviewer, bound per HTTP push stream by the operator
        "ClusterRoleBinding",
        "Deployment",
        "Deployment",  # the federation hub's
        "Namespace",
        "Role",  # the hub's, in its namespace
        "RoleBinding",
        "Service",
        "Service",  # the hub's
        "ServiceAccount",
        "ServiceAccount",  # the hub's
    ]
    rendered = kubectl("kustomize", str(ROOT / "manifests")).stdout
    released = f"image: ghcr.io/naksha-io/naksha:{__version__}"  # the manifests name the release's image
    assert released in rendered
    modified = rendered.replace(released, f"image: example.com/simulated:{__version__}")
    kubectl("apply", "-f", "-", input=modified)
    kubectl("delete", "-f", "-", "--wait=false", "--ignore-not-found", input=modified)


def test_the_plain_manifests_apply_server_side_with_kubectl(kubectl, tmp_path):
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(ROOT / "manifests", overlay)],
                "images": [{"name": "ghcr.io/naksha-io/naksha", "newName": "example.com/simulated"}],
            }
        )
    )
    # An earlier test deleted the same namespace without waiting; a real API server refuses writes
    # into a namespace until its deletion has finished.
    eventually(lambda: kubectl("get", "namespace", "naksha-system", check=False).returncode != 0, timeout=60)
    applied = kubectl("apply", "--server-side", "--field-manager=naksha-test", "-k", str(overlay)).stdout
    assert "service/naksha-operator-metrics serverside-applied" in applied
    kubectl("delete", "-k", str(overlay), "--wait=false", "--ignore-not-found")


def test_the_dashboard_configmap_carries_the_sidecar_label_and_the_dashboard(
    helm, api_client, release_namespace
):
    values = {"image": {"repository": "example.com/simulated"}, "grafanaDashboard": {"folder": "Operators"}}
    helm("install", release="gd", chart=CHART, namespace=release_namespace, values=values)
    try:
        config_map = client.CoreV1Api(api_client).read_namespaced_config_map(
            "gd-naksha-dashboard", release_namespace
        )
        assert config_map.metadata.labels["grafana_dashboard"] == "1"
        assert config_map.metadata.annotations["grafana_folder"] == "Operators"
        shipped = json.loads(config_map.data["naksha.json"])
        assert shipped == json.loads((ROOT / "charts" / "naksha" / "dashboards" / "naksha.json").read_text())
    finally:
        helm("uninstall", release="gd", namespace=release_namespace)


def test_the_dashboard_can_be_left_out(helm, api_client, release_namespace):
    values = {"image": {"repository": "example.com/simulated"}, "grafanaDashboard": {"enabled": False}}
    helm("install", release="nd", chart=CHART, namespace=release_namespace, values=values)
    try:
        names = [
            c.metadata.name
            for c in client.CoreV1Api(api_client).list_namespaced_config_map(release_namespace).items
        ]
        assert "nd-naksha-dashboard" not in names
    finally:
        helm("uninstall", release="nd", namespace=release_namespace)
