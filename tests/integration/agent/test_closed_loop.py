"""The closed loop: a telemetry spike → an AgentRun → scale-out → the detector recovers → resolved, with MTTR.

Everything real on the local control plane: the operator, an InsightStream worker running as a
``naksha insight-worker`` process that takes HTTP pushes, the AgentRun engine, the Deployment.
"""

from __future__ import annotations

import json
import time
import urllib.request

from kubernetes import client
from tests.support import eventually, free_port
from tests.support.agentruns import deployment, run_status
from tests.support.streams import latency_push_stream

from naksha.models.group import GROUP, VERSION

WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # a naksha image: the local kubelet runs it as a process
INGEST_PORT = free_port()


def push(address: str, values: list[float], start: float) -> None:
    records = [
        {"ts": start + i, "metric": "http_p99_seconds", "value": v, "labels": {"service": "checkout"}}
        for i, v in enumerate(values)
    ]
    request = urllib.request.Request(
        f"http://{address}:{INGEST_PORT}/ingest",
        data=json.dumps(records).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 202


def test_a_latency_spike_is_remediated_and_the_run_reports_resolved_with_its_times(
    naksha_operator, api_client, fresh_namespace
):
    apps, custom = client.AppsV1Api(api_client), client.CustomObjectsApi(api_client)
    apps.create_namespaced_deployment(fresh_namespace, deployment("checkout", replicas=2))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "insightstreams", latency_push_stream("checkout", INGEST_PORT)
    )
    eventually(
        lambda: (
            custom.get_namespaced_custom_object(
                GROUP, VERSION, fresh_namespace, "insightstreams", "checkout"
            )["status"]["phase"]
            == "Running"
        ),
        timeout=60,
    )
    # The worker runs in its own network namespace: pushes go to its Service's address, as in a cluster.
    core = client.CoreV1Api(api_client)
    address = eventually(
        lambda: core.read_namespaced_service("checkout-insight", fresh_namespace).spec.cluster_ip, timeout=30
    )
    now = time.time()
    push(address, [0.2] * 10 + [4.0] * 3, start=now - 13)  # normal, then a spike

    def the_run() -> str:
        (run,) = custom.list_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "agentruns")["items"]
        return str(run["metadata"]["name"])

    name = eventually(the_run, timeout=30)
    eventually(
        lambda: apps.read_namespaced_deployment("checkout", fresh_namespace).spec.replicas == 5, timeout=30
    )
    assert run_status(custom, fresh_namespace, name)["phase"] == "Running"  # verifying: not recovered yet

    push(
        address, [0.2] * 5, start=now + 3
    )  # the scaled-out service is fast again, past the detector's cooldown
    status = eventually(
        lambda: (s := run_status(custom, fresh_namespace, name)).get("phase") == "Succeeded" and s, timeout=60
    )

    outcome = status["outcome"]
    assert outcome["resolved"] is True
    assert outcome["playbook"] == "scale-out-on-latency"
    assert outcome["actions"] == ["scale:scale"]
    assert 0 <= outcome["timeToDetectSeconds"] < 30
    assert 0 <= outcome["timeToActSeconds"] < 30
    assert 0 < outcome["timeToRecoverSeconds"] < 60
    stream_status = custom.get_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "insightstreams", "checkout"
    )["status"]
    assert stream_status["detectors"]["p99"]["active"] == 0
    assert stream_status["agentRuns"] == 1

    metrics = urllib.request.urlopen(f"http://127.0.0.1:{naksha_operator}/metrics", timeout=5).read().decode()
    assert 'naksha_agent_actions_total{dry_run="false",wpk="scale"}' in metrics
    assert 'naksha_agent_runs_total{phase="Succeeded"}' in metrics
    recoveries = next(
        line for line in metrics.splitlines() if line.startswith("naksha_agent_time_to_recover_seconds_count")
    )
    assert float(recoveries.split()[-1]) >= 1
