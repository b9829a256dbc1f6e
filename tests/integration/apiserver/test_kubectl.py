"""The real kubectl works against the local control plane without special flags."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from tests.support import ROOT, eventually


def edge_yaml(name: str, namespace: str, **spec: object) -> str:
    body = {
        "apiVersion": "naksha.io/v1alpha1",
        "kind": "EdgeNode",
        "metadata": {"name": name, "namespace": namespace, "labels": {"site": "lab"}},
        "spec": {"identity": {"nodeId": name}, **spec},
    }
    return yaml.safe_dump(body)


def test_applied_crds_become_discoverable_with_short_names_and_category(kubectl, naksha_crds):
    resources = kubectl("api-resources", "--api-group=naksha.io", "-o", "wide").stdout
    for kind, short in (
        ("InsightStream", "ins"),
        ("AgentRun", "ar"),
        ("Rollout", "nro"),
        ("EdgeNode", "edge"),
    ):
        line = next(row for row in resources.splitlines() if f" {kind} " in f" {row} ")
        columns = line.split()
        assert short in columns[1].split(",") and columns[-1] == "naksha"


def test_apply_get_describe_and_yaml_round_trip(kubectl, naksha_crds, namespace):
    kubectl("apply", "-f", "-", input=edge_yaml("e1", namespace))
    table = kubectl("get", "edge", "-n", namespace).stdout
    assert table.splitlines()[0].split()[:5] == ["NAME", "NODE", "READY", "LAST-HEARTBEAT", "VERSION"]
    described = kubectl("describe", "edgenode", "e1", "-n", namespace).stdout
    assert "Node Id:" in described and "e1" in described
    as_yaml = yaml.safe_load(kubectl("get", "edge", "e1", "-n", namespace, "-o", "yaml").stdout)
    # Schema defaults were filled in by the server.
    assert as_yaml["spec"]["heartbeatInterval"] and as_yaml["metadata"]["uid"]
    assert (
        kubectl("get", "edge", "-n", namespace, "-l", "site=lab", "-o", "name").stdout.strip()
        == "edgenode.naksha.io/e1"
    )
    assert kubectl("get", "edge", "-n", namespace, "-l", "site=elsewhere", "-o", "name").stdout.strip() == ""


def test_reapplying_is_unchanged_and_diff_reports_only_real_changes(
    kubectl, naksha_crds, namespace, tmp_path: Path
):
    path = tmp_path / "e.yaml"
    path.write_text(edge_yaml("e2", namespace))
    kubectl("apply", "-f", str(path))
    assert "unchanged" in kubectl("apply", "-f", str(path)).stdout
    assert kubectl("diff", "-f", str(path), check=False).returncode == 0
    path.write_text(edge_yaml("e2", namespace, capabilities=["restart"]))
    changed = kubectl("diff", "-f", str(path), check=False)
    assert changed.returncode == 1 and "+  - restart" in changed.stdout


def test_server_side_apply_and_replace(kubectl, naksha_crds, namespace, tmp_path: Path):
    path = tmp_path / "e.yaml"
    path.write_text(edge_yaml("e3", namespace))
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", str(path)).stdout
    path.write_text(edge_yaml("e3", namespace, capabilities=["telemetry"]))
    kubectl("replace", "-f", str(path))
    spec = json.loads(kubectl("get", "edge", "e3", "-n", namespace, "-o", "json").stdout)["spec"]
    assert spec["capabilities"] == ["telemetry"]


def test_patch_merge_json_and_status_then_wait_for_a_condition(kubectl, naksha_crds, namespace):
    kubectl("apply", "-f", "-", input=edge_yaml("e4", namespace))
    kubectl(
        "patch", "edge", "e4", "-n", namespace, "--type", "merge", "-p", '{"spec":{"capabilities":["a"]}}'
    )
    kubectl(
        "patch",
        "edge",
        "e4",
        "-n",
        namespace,
        "--type",
        "json",
        "-p",
        '[{"op":"add","path":"/spec/capabilities/-","value":"b"}]',
    )
    status = {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Test",
                    "message": "ok",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ]
        }
    }
    kubectl(
        "patch",
        "edge",
        "e4",
        "-n",
        namespace,
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        json.dumps(status),
    )
    kubectl("wait", "--for=condition=Ready", "--timeout=10s", "edge/e4", "-n", namespace)
    got = json.loads(kubectl("get", "edge", "e4", "-n", namespace, "-o", "json").stdout)
    assert got["spec"]["capabilities"] == ["a", "b"]


def test_watch_prints_changes_as_they_happen(control_plane, kubectl, naksha_crds, namespace):
    kubectl("apply", "-f", "-", input=edge_yaml("e5", namespace))
    watcher = subprocess.Popen(
        [
            "kubectl",
            "--kubeconfig",
            str(control_plane.kubeconfig_path),
            "get",
            "edge",
            "-n",
            namespace,
            "--watch",
            "--output-watch-events",
            "-o",
            "name",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        kubectl("apply", "-f", "-", input=edge_yaml("e6", namespace))
        time.sleep(1.0)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    assert out.split() == ["edgenode.naksha.io/e5", "edgenode.naksha.io/e6"]


def test_delete_wait_returns_once_the_object_is_gone(kubectl, naksha_crds, namespace):
    kubectl("apply", "-f", "-", input=edge_yaml("e7", namespace))
    kubectl("delete", "edge", "e7", "-n", namespace, "--wait", "--timeout=10s")
    assert kubectl("get", "edge", "e7", "-n", namespace, check=False).returncode != 0


def test_scale_changes_a_deployments_replicas(kubectl, namespace):
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "web"}]},
            },
        },
    }
    kubectl("apply", "-f", "-", input=yaml.safe_dump(deployment))
    kubectl("scale", "deployment/web", "-n", namespace, "--replicas=3")
    replicas = kubectl("get", "deployment", "web", "-n", namespace, "-o", "jsonpath={.spec.replicas}").stdout
    assert replicas == "3"
    eventually(
        lambda: (
            kubectl("get", "deploy", "web", "-n", namespace, "-o", "jsonpath={.status.readyReplicas}").stdout
            == "3"
        )
    )


def test_invalid_objects_are_refused_at_apply_time_with_the_field_and_reason(kubectl, naksha_crds, namespace):
    bad = edge_yaml("e8", namespace).replace("nodeId: e8", "nodeId: ''")
    result = kubectl("apply", "-f", "-", input=bad, check=False)
    assert result.returncode != 0 and "spec.identity.nodeId" in result.stderr


@pytest.mark.emulator_only(reason="the real API server speaks protobuf; only the emulator refuses it")
def test_protobuf_bodies_get_a_clear_415(control_plane, namespace):
    request = urllib.request.Request(
        f"{control_plane.url}/api/v1/namespaces/{namespace}/configmaps",
        data=b"k8s\x00\x0a\x0f\x0a\x02v1",
        method="POST",
        headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5, context=control_plane.client_ssl_context())
    assert caught.value.code == 415
    assert "protobuf" in caught.value.read().decode()


def test_the_samples_apply_cleanly(kubectl, naksha_crds, namespace, tmp_path: Path):
    for sample in sorted((ROOT / "crds" / "samples").glob("*.yaml")):
        body = yaml.safe_load(sample.read_text())
        body["metadata"]["namespace"] = namespace
        kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
    names = kubectl("get", "naksha", "-n", namespace, "-o", "name").stdout.split()
    assert len(names) == len(list((ROOT / "crds" / "samples").glob("*.yaml")))
