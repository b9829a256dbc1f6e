"""End to end on a real cluster: build the image, start kind, install the chart, handle the samples.

Opt-in with ``pytest --e2e``; it also needs Docker (a running engine), kind and the Helm
virtualenv, and skips saying which one is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.support import ROOT, eventually

IMAGE = "naksha:e2e"
HELM_PYTHON = ROOT / ".venv-helm" / "bin" / "python"
pytestmark = pytest.mark.e2e


def missing_requirement() -> str | None:
    if shutil.which("docker") is None:
        return "docker is not installed"
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return "the Docker engine is not running (docker info failed)"
    if shutil.which("kind") is None:
        return "kind is not installed"
    if not HELM_PYTHON.exists():
        return "the Helm virtualenv (.venv-helm, Python 3.12) is missing"
    return None


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> str:
    result = subprocess.run(args, capture_output=True, text=True, env=env, input=input, timeout=900)
    assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def kind_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not request.config.getoption("--e2e"):
        pytest.skip("end-to-end tests run only with --e2e")
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    name = f"naksha-e2e-{uuid.uuid4().hex[:6]}"
    kubeconfig = tmp_path_factory.mktemp("kind") / "kubeconfig"
    run("docker", "build", "-t", IMAGE, str(ROOT))
    run("kind", "create", "cluster", "--name", name, "--kubeconfig", str(kubeconfig), "--wait", "120s")
    try:
        run("kind", "load", "docker-image", IMAGE, "--name", name)
        yield kubeconfig
    finally:
        subprocess.run(["kind", "delete", "cluster", "--name", name], capture_output=True)


def test_the_chart_runs_the_operator_on_kind_and_it_accepts_every_sample(kind_cluster: Path):
    kubectl = ["kubectl", "--kubeconfig", str(kind_cluster)]
    run(*kubectl, "apply", "-f", str(ROOT / "crds"))
    run(*kubectl, "wait", "--for=condition=Established", "crd", "-l", "app.kubernetes.io/part-of=naksha")
    driver = subprocess.Popen(
        [str(HELM_PYTHON), str(ROOT / "tests/integration/helm/helm_driver.py"), str(kind_cluster)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert driver.stdin is not None and driver.stdout is not None

    def helm(action: str, **request: object) -> dict:
        driver.stdin.write(json.dumps({"action": action, **request}) + "\n")
        driver.stdin.flush()
        answer = json.loads(driver.stdout.readline())
        assert answer["ok"], answer["error"]
        return answer["result"]

    values = {"image": {"repository": "naksha", "tag": "e2e", "pullPolicy": "Never"}}
    helm(
        "install",
        release="naksha",
        chart=str(ROOT / "charts/naksha"),
        namespace="naksha-system",
        values=values,
    )
    try:
        run(*kubectl, "-n", "naksha-system", "rollout", "status", "deployment/naksha", "--timeout=180s")
        run(*kubectl, "apply", "-f", str(ROOT / "crds" / "samples"))
        for sample in sorted((ROOT / "crds" / "samples").glob("*.yaml")):
            body = yaml.safe_load(sample.read_text())
            plural = f"{body['kind'].lower()}s.naksha.io/{body['metadata']['name']}"

            def accepted(resource: str = plural) -> bool:
                obj = json.loads(run(*kubectl, "get", resource, "-n", "default", "-o", "json"))
                conditions = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
                return conditions.get("Accepted") == "True"

            eventually(accepted, timeout=120, interval=2)
    finally:
        helm("uninstall", release="naksha", namespace="naksha-system")
        driver.stdin.close()
        driver.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "--e2e", "-v"]))
