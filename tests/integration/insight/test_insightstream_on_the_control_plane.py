"""End to end on the local control plane: InsightStream workers consume real Kafka and start one AgentRun.

The operator runs the workers as pods; the local kubelet runs them as real ``naksha
insight-worker`` processes. A real aiokafka producer sends normal telemetry, then a spike.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from typing import Any

import pytest
from kubernetes import client
from tests.support import eventually
from tests.support.streams import produce, stream

from naksha.workloads.insight import WORKER_PORT

WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # a naksha image: the kubelet runs it as a process
GROUP, VERSION = "naksha.io", "v1alpha1"


@pytest.mark.emulator_only(
    reason="reads the worker at its own 127/8 address, the local kubelet's pod network"
)
def test_a_spike_on_kafka_starts_exactly_one_agent_run_with_the_signal(
    naksha_operator, api_client, fresh_namespace, kafka_broker, topic, backend
):
    custom, apps = client.CustomObjectsApi(api_client), client.AppsV1Api(api_client)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "insightstreams", stream("checkout", kafka_broker.bootstrap, topic)
    )

    def get() -> dict[str, Any]:
        return dict(
            custom.get_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "insightstreams", "checkout")
        )

    # The operator runs the workers; the kubelet runs them as processes that pass their probe.
    deployment = eventually(
        lambda: apps.read_namespaced_deployment("checkout-insight", fresh_namespace), timeout=30
    )
    assert deployment.metadata.owner_references[0].kind == "InsightStream"
    # On a real control plane the pods of a fresh namespace wait for its ServiceAccount (the
    # ReplicaSet controller retries with backoff), then for the scheduler: allow for it.
    eventually(lambda: get()["status"]["phase"] == "Running", timeout=120 if backend == "real" else 60)

    start = time.time()
    normal = [
        {"ts": start + i, "metric": "http_p99_seconds", "value": 0.2, "labels": {"service": "checkout"}}
        for i in range(40)
    ]
    spike = [
        {"ts": start + 40 + i, "metric": "http_p99_seconds", "value": 4.0, "labels": {"service": "checkout"}}
        for i in range(5)
    ]
    asyncio.run(produce(kafka_broker.bootstrap, topic, [*normal, *spike, b"not json", {"metric": "x"}]))

    def agent_runs() -> list[dict[str, Any]]:
        return custom.list_namespaced_custom_object(
            GROUP, VERSION, fresh_namespace, "agentruns", label_selector="naksha.io/stream=checkout"
        )["items"]

    (run,) = eventually(agent_runs, timeout=60)
    signal = run["spec"]["signal"]
    assert (signal["stream"], signal["detector"], signal["value"]) == ("checkout", "latency", 4.0)
    assert signal["series"] == {"__name__": "http_p99_seconds", "service": "checkout"}
    assert run["spec"]["playbookRef"]["name"] == "scale-out-on-latency"
    assert run["spec"]["target"]["name"] == "checkout"

    # The operator folds the worker's report into the stream's status.
    status = eventually(lambda: (s := get()["status"]).get("ingested") == 45 and s, timeout=30)
    assert (status["rejected"], status["deadLettered"], status["anomalies"], status["agentRuns"]) == (
        2,
        2,
        1,
        1,
    )
    assert status["lastAnomaly"]["latency"]["value"] == 4.0
    # The worker pod has its own address (its own network namespace), where its port answers.
    (pod,) = client.CoreV1Api(api_client).list_namespaced_pod(fresh_namespace).items
    address = pod.status.pod_ip
    assert address.startswith("127.") and address != "127.0.0.1"
    metrics = urllib.request.urlopen(f"http://{address}:{WORKER_PORT}/metrics", timeout=5).read().decode()
    assert 'naksha_insight_ingested_total{stream="checkout"} 45.0' in metrics
    assert (
        'naksha_insight_agentruns_total{result="created",stream="checkout",trigger="scale-out"} 1.0'
        in metrics
    )

    # More of the same incident changes nothing: still one AgentRun.
    asyncio.run(produce(kafka_broker.bootstrap, topic, spike))
    eventually(lambda: get()["status"].get("ingested") == 50, timeout=30)
    assert len(agent_runs()) == 1
