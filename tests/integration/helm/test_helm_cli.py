"""The chart with the real ``helm`` command (built by ``make real-apiserver``), release Secrets and all.

On the real API server Helm keeps its releases in Secrets (its default storage), written in
protobuf: install, upgrade and uninstall run exactly as for a user. The emulator speaks JSON
only, so there the same install is refused with its explanatory 415, which the test checks
(the chart tests through Helm's library use ``HELM_DRIVER=memory`` on it instead).
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from tests.support import ROOT, eventually

from naksha.local.real import locate

CHART = str(ROOT / "charts" / "naksha")


@pytest.fixture(scope="module")
def helm_binary() -> Path:
    binary = locate().helm
    if not os.access(binary, os.X_OK):
        message = f"the helm command is not built ({binary}); run `make real-apiserver`"
        if os.environ.get("NAKSHA_REQUIRE_REAL_BACKEND") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return binary


@pytest.fixture
def helm(helm_binary: Path, control_plane: Any, naksha_crds: None, tmp_path: Path):
    home = {name: str(tmp_path / name) for name in ("cache", "config", "data")}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(helm_binary), "--kubeconfig", str(control_plane.kubeconfig_path), *args],
            capture_output=True,
            text=True,
            timeout=180,
            env={
                **os.environ,
                "HELM_CACHE_HOME": home["cache"],
                "HELM_CONFIG_HOME": home["config"],
                "HELM_DATA_HOME": home["data"],
            },
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    return run


def release_secrets(core: client.CoreV1Api, namespace: str, release: str) -> list[str]:
    secrets = core.list_namespaced_secret(namespace, label_selector=f"owner=helm,name={release}").items
    return sorted(s.metadata.name for s in secrets)


def test_the_chart_lints_with_the_helm_command(helm):
    result = helm("lint", CHART)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_install_upgrade_and_uninstall_keep_the_release_in_secrets(helm, api_client, backend):
    namespace = f"helm-{uuid.uuid4().hex[:6]}"
    simulated = ["--set", "image.repository=example.com/simulated"]
    if backend == "emulator":
        refused = helm("install", "nk", CHART, "-n", namespace, "--create-namespace", *simulated, check=False)
        assert refused.returncode != 0 and "protobuf" in refused.stderr  # the emulator's documented limit
        return
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    helm(
        "install", "nk", CHART, "-n", namespace, "--create-namespace", *simulated, "--wait", "--timeout=120s"
    )
    assert release_secrets(core, namespace, "nk") == ["sh.helm.release.v1.nk.v1"]
    secret = core.read_namespaced_secret("sh.helm.release.v1.nk.v1", namespace)
    assert secret.type == "helm.sh/release.v1" and base64.b64decode(secret.data["release"])
    assert apps.read_namespaced_deployment("nk-naksha", namespace).status.available_replicas == 1

    helm("upgrade", "nk", CHART, "-n", namespace, *simulated, "--set", "image.tag=next", "--wait")
    assert release_secrets(core, namespace, "nk") == ["sh.helm.release.v1.nk.v1", "sh.helm.release.v1.nk.v2"]
    image = apps.read_namespaced_deployment("nk-naksha", namespace).spec.template.spec.containers[0].image
    assert image == "example.com/simulated:next"
    assert "nk" in helm("list", "-n", namespace, "-q").stdout.split()

    helm("uninstall", "nk", "-n", namespace, "--wait")
    assert release_secrets(core, namespace, "nk") == []
    eventually(lambda: not apps.list_namespaced_deployment(namespace).items)
    core.delete_namespace(namespace)
