"""An insight worker SIGKILLed anywhere around a spike neither loses the incident nor doubles its AgentRun.

Real ``naksha insight-worker`` processes read real brokers (tansu for Kafka, redis-server for
Redis Streams) and create AgentRuns on the local control plane. One stream watches one series
with every detector method (threshold, ewma, rate), each bound to its own trigger, all with the
documented defaults (``minSamples`` 30, ``cooldown`` 60 s): one spike is one incident per
detector, so the right outcome is exactly one AgentRun per trigger.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from tests.support import eventually
from tests.support.workers import (
    KafkaFeed,
    RedisFeed,
    WorkerProcess,
    normal,
    settle,
    telemetry,
    wait_until_acknowledged,
)

GROUP, VERSION = "naksha.io", "v1alpha1"
DETECTORS = [
    {"name": "ceiling", "metric": "latency", "method": "threshold", "params": {"threshold": {"above": 500}}},
    {"name": "baseline", "metric": "latency", "method": "ewma"},
    {"name": "jump", "metric": "latency", "method": "rate", "params": {"rate": {"maxChangePerSecond": 50}}},
]
TRIGGERS = [
    {
        "name": f"on-{d['name']}",
        "detector": d["name"],
        "debounce": "1h",
        "agentRun": {"playbook": "scale-out"},
    }
    for d in DETECTORS
]
SPIKE = [1000.0, 1000.0, 1000.0]


@pytest.fixture
def namespace(api_client, naksha_crds) -> Iterator[str]:
    name = f"cr-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    yield name
    client.CoreV1Api(api_client).delete_namespace(name)


@pytest.fixture(params=["kafka", "redis"])
def feed(request, kafka_broker, redis_broker) -> KafkaFeed | RedisFeed:
    name = f"crash-{uuid.uuid4().hex[:6]}"
    if request.param == "kafka":
        return KafkaFeed(kafka_broker.bootstrap, name, f"{name}-workers")
    return RedisFeed(redis_broker.url, name, f"{name}-workers")


def start_of_hour() -> float:
    # Every sample inside one debounce window, so a replayed incident has the same dedupe key.
    return (time.time() // 3600) * 3600 + 60


def stream(api_client, namespace: str, feed: KafkaFeed | RedisFeed, **spec: Any) -> dict[str, Any]:
    body = {"source": feed.source(), "detectors": DETECTORS, "triggers": TRIGGERS, **spec}
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "insightstreams",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "InsightStream",
            "metadata": {"name": "svc"},
            "spec": body,
        },
    )
    return body


def agent_runs(api_client, namespace: str) -> list[dict[str, Any]]:
    return client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        GROUP, VERSION, namespace, "agentruns"
    )["items"]


def one_run_per_trigger(api_client, namespace: str) -> bool:
    runs = agent_runs(api_client, namespace)
    triggers = sorted(run["metadata"]["labels"]["naksha.io/trigger"] for run in runs)
    assert len(triggers) == len(set(triggers)), f"a trigger fired twice: {triggers}"
    return triggers == sorted(t["name"] for t in TRIGGERS)


def worker(control_plane, tmp_path: Path, namespace: str, spec: dict[str, Any]) -> WorkerProcess:
    return WorkerProcess(
        tmp_path,
        Path(control_plane.kubeconfig_path),
        namespace=namespace,
        stream="svc",
        spec=spec,
        name="svc-worker-0",
    )


def finish(process: WorkerProcess, feed: KafkaFeed | RedisFeed, api_client, namespace: str) -> None:
    """The restarted worker raises each incident once, acknowledges everything, and stops cleanly."""
    try:
        eventually(lambda: one_run_per_trigger(api_client, namespace), timeout=60, interval=0.3)
        wait_until_acknowledged(feed, feed.sent)
        settle(1.0)
        assert one_run_per_trigger(api_client, namespace)
    finally:
        assert process.stop() == 0, process.output()


def test_killed_before_consuming_the_spike(control_plane, api_client, namespace, feed, tmp_path):
    spec = stream(api_client, namespace, feed)
    start = start_of_hour()
    feed.send(telemetry(start, normal(40)))
    process = worker(control_plane, tmp_path, namespace, spec).start()
    wait_until_acknowledged(feed, 40)
    process.kill()
    feed.send(telemetry(start, SPIKE, first=40))
    finish(process.start(), feed, api_client, namespace)


def test_killed_after_detecting_before_creating_the_agent_runs(
    control_plane, api_client, namespace, feed, tmp_path
):
    spec = stream(api_client, namespace, feed)
    start = start_of_hour()
    feed.send(telemetry(start, normal(40)))
    feed.send(telemetry(start, SPIKE, first=40))
    process = worker(control_plane, tmp_path, namespace, spec).start(
        NAKSHA_CRASH_POINT="insight.before-trigger"
    )
    process.wait_for_crash()
    assert agent_runs(api_client, namespace) == []
    assert feed.acknowledged() < feed.sent
    finish(process.start(), feed, api_client, namespace)


def test_killed_after_creating_the_agent_runs_before_acknowledging(
    control_plane, api_client, namespace, feed, tmp_path
):
    spec = stream(api_client, namespace, feed)
    start = start_of_hour()
    feed.send(telemetry(start, normal(40)))
    feed.send(telemetry(start, SPIKE, first=40))
    process = worker(control_plane, tmp_path, namespace, spec).start(
        NAKSHA_CRASH_POINT="insight.after-trigger"
    )
    process.wait_for_crash()
    assert one_run_per_trigger(api_client, namespace)
    assert feed.acknowledged() < feed.sent
    process.start()
    # The replay met the same incidents, and the API refused their second AgentRuns.
    eventually(
        lambda: process.metric(
            'naksha_insight_agentruns_total{result="duplicate",stream="svc",trigger="on-jump"}'
        ),
        timeout=60,
    )
    finish(process, feed, api_client, namespace)


def test_a_restart_that_replays_the_uncommitted_tail_still_raises_the_incident(
    control_plane, api_client, namespace, feed, tmp_path
):
    """The reported case: 15 samples checkpointed, 25 more handled but not acknowledged, then the
    spike; the worker dies before it handles the spike. The restarted worker replays only 25
    samples of the series, fewer than ``minSamples``: without the saved state it never alerted."""
    spec = stream(api_client, namespace, feed)
    start = start_of_hour()
    process = worker(control_plane, tmp_path, namespace, spec)
    feed.send(telemetry(start, normal(15)))
    process.start()
    wait_until_acknowledged(feed, 15)
    assert process.stop() == 0
    # A worker that checkpoints rarely handles the next 25 samples and dies before acknowledging them.
    process.spec = {**spec, "checkpointInterval": "1h"}
    process.start()
    feed.send(telemetry(start, normal(40)[15:], first=15))
    eventually(lambda: process.metric('naksha_insight_ingested_total{stream="svc"}') == 25, timeout=60)
    process.kill()
    assert feed.acknowledged() == 15
    feed.send(telemetry(start, SPIKE, first=40))
    process.spec = spec
    finish(process.start(), feed, api_client, namespace)
    assert "unusable" not in process.output() and "cannot be used" not in process.output()
