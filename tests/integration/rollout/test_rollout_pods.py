"""A Rollout's pods as real processes: the sample's four pods all run, crash-looping pods are not Healthy.

The pods run ``naksha demo-app``, each in its own network namespace, so all four listen on :8080.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml
from kubernetes import client
from tests.support import ROOT, eventually
from tests.support.pods import answer, needs_namespaces
from tests.support.rollouts import Cluster, rollout


def pods_of(api_client: client.ApiClient, namespace: str, app: str) -> list[Any]:
    return list(
        client.CoreV1Api(api_client).list_namespaced_pod(namespace, label_selector=f"app={app}").items
    )


def all_ready(pods: list[Any], count: int) -> bool:
    return len(pods) == count and all(
        p.status.phase == "Running"
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        for p in pods
    )


@needs_namespaces
@pytest.mark.emulator_only(reason="four pods on one port need the local kubelet's pod network namespaces")
def test_the_sample_rollouts_four_pods_on_port_8080_all_run(naksha_operator, api_client, fresh_namespace):
    sample = yaml.safe_load((ROOT / "crds" / "samples" / "rollout.yaml").read_text())
    sample["metadata"]["namespace"] = fresh_namespace
    cluster = Cluster(api_client, fresh_namespace)
    cluster.create(sample)

    pods = eventually(
        lambda: all_ready(p := pods_of(api_client, fresh_namespace, "checkout"), 4) and p, timeout=90
    )
    cluster.wait_phase("checkout", "Healthy")
    assert len({p.status.pod_ip for p in pods}) == 4
    for pod in pods:  # without a readiness probe a pod is Ready before its process listens
        eventually(lambda: answer(f"http://{pod.status.pod_ip}:8080/") == "v1", timeout=30)  # noqa: B023
    # All four listen on :8080 now; none crashed for want of its port.
    pods = pods_of(api_client, fresh_namespace, "checkout")
    assert all_ready(pods, 4)
    assert all(p.status.container_statuses[0].restart_count == 0 for p in pods)
    assert cluster.status("checkout")["phase"] == "Healthy"


def test_a_rollout_whose_pods_crash_loop_is_never_healthy(naksha_operator, api_client, fresh_namespace):
    cluster = Cluster(api_client, fresh_namespace)
    body = rollout("crashy", "naksha", [{"setWeight": 50}])
    body["spec"]["replicas"] = 2
    body["spec"]["template"]["metadata"]["labels"]["app"] = "crashy"
    body["spec"]["selector"]["matchLabels"]["app"] = "crashy"
    body["spec"]["template"]["spec"]["containers"][0].update(
        args=["demo-app"], env=[{"name": "NAKSHA_DEMO_PORT", "value": "not-a-port"}]
    )
    cluster.create(body)

    status = cluster.wait_phase("crashy", "Degraded", timeout=60)
    assert "crash-looping" in status["message"]
    # Between restarts a probe-less container is Ready for a moment: the Rollout still never says Healthy.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert cluster.status("crashy").get("phase") != "Healthy"
        time.sleep(0.2)
