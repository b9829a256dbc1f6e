"""An InsightStream's status counters never go back across worker crashes and pod replacements, and end exact.

The real operator folds the reports of insight workers that the local kubelet runs as pods
(real processes, restarted in place after a SIGKILL as a container would be). Telemetry goes
through real brokers while a worker is SIGKILLed, while its pod is replaced gracefully, and
while a pod is replaced by force (killed at once); a sampler reads the stream's status all along.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from tests.support import eventually, free_port
from tests.support.workers import KafkaFeed, RedisFeed, normal, telemetry

from naksha.services.insight.state_store import state_name
from naksha.workloads.insight import worker_labels, worker_name

GROUP, VERSION = "naksha.io", "v1alpha1"
COUNTERS = ("ingested", "rejected", "deadLettered", "anomalies", "agentRuns")
STREAM = "orders"


@pytest.fixture(params=["kafka", "redis"])
def feed(request, kafka_broker, redis_broker) -> KafkaFeed | RedisFeed:
    name = f"counted-{uuid.uuid4().hex[:6]}"
    if request.param == "kafka":
        KafkaFeed(kafka_broker.bootstrap, f"{name}.dlq", "unused")  # the dead-letter topic exists
        return KafkaFeed(kafka_broker.bootstrap, name, f"{name}-workers")
    return RedisFeed(redis_broker.url, name, f"{name}-workers")


def spec_for(feed: KafkaFeed | RedisFeed) -> dict[str, Any]:
    source = feed.source()
    if source["type"] == "redis":
        source["redis"]["claimIdle"] = "3s"  # a killed consumer's entries and state move on quickly
    return {
        "source": source,
        "replicas": 0,  # the test runs the worker pods itself, one at a time
        "detectors": [
            {
                "name": "ceiling",
                "metric": "latency",
                "method": "threshold",
                "params": {"threshold": {"above": 500}},
            }
        ],
        "triggers": [
            {"name": "page", "detector": "ceiling", "debounce": "1h", "agentRun": {"playbook": "scale-out"}}
        ],
        "deadLetter": {
            "enabled": True,
            "topic": f"{source[source['type']].get('topic') or source['redis']['stream']}.dlq",
        },
    }


def worker_pod(name: str, namespace: str, spec: dict[str, Any], *, grace: int = 10) -> dict[str, Any]:
    env = {
        "NAKSHA_STREAM_NAME": STREAM,
        "NAKSHA_STREAM_NAMESPACE": namespace,
        "NAKSHA_INSIGHT_SPEC": json.dumps(spec),
        "NAKSHA_HTTP_PORT": str(free_port()),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": worker_labels(STREAM)},
        "spec": {
            # As the operator's own worker pods: the stream's account, which it made with its Role.
            "serviceAccountName": worker_name(STREAM),
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": grace,
            "containers": [
                {
                    "name": "worker",
                    "image": "ghcr.io/naksha-io/naksha:test",  # a naksha image: the kubelet runs the process
                    "args": ["insight-worker"],
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                }
            ],
        },
    }


class StatusSampler:
    """Reads the stream's counters every quarter second, from a thread, until stopped."""

    def __init__(self, custom: client.CustomObjectsApi, namespace: str) -> None:
        self.custom = custom
        self.namespace = namespace
        self.samples: list[dict[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def read(self) -> dict[str, int]:
        status = (
            self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "insightstreams", STREAM
            ).get("status")
            or {}
        )
        return {counter: int(status.get(counter) or 0) for counter in COUNTERS}

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.read())
            self._stop.wait(0.25)

    def __enter__(self) -> StatusSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def reach(sampler: StatusSampler, target: dict[str, int], *, timeout: float) -> None:
    def check() -> bool:
        now = sampler.read()
        assert now == target, f"status {now}, expected {target}"
        return True

    eventually(check, timeout=timeout, interval=0.5)


@pytest.fixture
def namespace(api_client, naksha_operator) -> Iterator[str]:
    name = f"ct-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    yield name
    client.CoreV1Api(api_client).delete_namespace(name)


@pytest.mark.emulator_only(
    reason="its worker pods act as the stream's ServiceAccount; the real backend's node agent gives pods no "
    "ServiceAccount tokens yet"
)
def test_counters_never_decrease_across_crashes_and_replacements_and_end_exact(api_client, namespace, feed):
    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    spec = spec_for(feed)
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "insightstreams",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "InsightStream",
            "metadata": {"name": STREAM},
            "spec": spec,
        },
    )
    start = (time.time() // 3600) * 3600 + 60
    sent = {"ingested": 0, "rejected": 0}

    def send(values: list[float], garbage: int) -> None:
        records: list[Any] = telemetry(start, values, first=sent["ingested"])
        feed.send([*records, *([b"not json"] * garbage)])
        sent["ingested"] += len(values)
        sent["rejected"] += garbage

    def expected(anomalies: int) -> dict[str, int]:
        rejected = sent["rejected"]
        return {
            "ingested": sent["ingested"],
            "rejected": rejected,
            "deadLettered": rejected,
            "anomalies": anomalies,
            "agentRuns": anomalies,
        }

    def container_pid(pod: str) -> int:
        def running() -> int:
            status = core.read_namespaced_pod(pod, namespace).status
            (container,) = status.container_statuses
            assert container.state.running is not None
            return int(container.container_id.removeprefix("local://"))

        return int(eventually(running, timeout=30))

    with StatusSampler(custom, namespace) as sampler:
        core.create_namespaced_pod(namespace, worker_pod("orders-a", namespace, spec))
        send(normal(200), garbage=5)
        reach(sampler, expected(0), timeout=60)

        # A crash mid-stream: the container restarts in place and replays what it had not checkpointed.
        taken = feed.acknowledged()
        send([*normal(300), 1000.0, 1000.0, 1000.0], garbage=5)
        # Killed once it has taken some of the new records (acknowledged with a checkpoint).
        eventually(lambda: feed.acknowledged() > taken, timeout=60, interval=0.05)
        os.kill(container_pid("orders-a"), signal.SIGKILL)
        reach(sampler, expected(1), timeout=90)
        assert core.read_namespaced_pod("orders-a", namespace).status.container_statuses[0].restart_count >= 1

        # A graceful replacement: a new pod, a new consumer name.
        core.delete_namespaced_pod("orders-a", namespace)
        core.create_namespaced_pod(namespace, worker_pod("orders-b", namespace, spec, grace=0))
        send(normal(150), garbage=3)
        reach(sampler, expected(1), timeout=90)

        # A forced replacement: the pod is killed at once (grace 0) while records are coming.
        taken = feed.acknowledged()
        send(normal(150), garbage=2)
        eventually(lambda: feed.acknowledged() > taken, timeout=60, interval=0.05)
        core.delete_namespaced_pod("orders-b", namespace)
        core.create_namespaced_pod(namespace, worker_pod("orders-c", namespace, spec))
        send(normal(100), garbage=1)
        final = expected(1)
        reach(sampler, final, timeout=120)
        time.sleep(6)  # a few more operator passes: nothing moves any more

    for counter in COUNTERS:
        values = [sample[counter] for sample in sampler.samples]
        drops = [(a, b) for a, b in itertools.pairwise(values) if b < a]
        assert not drops, f"{counter} went back: {drops}"
        assert values[-1] == final[counter], (counter, values[-1], final[counter])
    runs = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "agentruns")["items"]
    assert len(runs) == 1


def test_a_checkpoint_that_cannot_be_saved_degrades_the_stream_and_nothing_is_committed_until_it_can(
    api_client, namespace, kafka_broker
):
    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    name = f"full-{uuid.uuid4().hex[:6]}"
    feed = KafkaFeed(kafka_broker.bootstrap, name, f"{name}-workers")
    spec = {
        "source": feed.source(),
        "replicas": 0,
        "detectors": [
            {
                "name": "ceiling",
                "metric": "latency",
                "method": "threshold",
                "params": {"threshold": {"above": 500}},
            }
        ],
    }
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "insightstreams",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "InsightStream",
            "metadata": {"name": STREAM},
            "spec": spec,
        },
    )
    # Someone else's data already fills the stream's state ConfigMap.
    filler = base64.b64encode(bytes(700_000)).decode()
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": state_name(STREAM)}, "binaryData": {"filler": filler}}
    )
    # The pod runs as the stream's account; a real API server refuses pods whose account is missing.
    eventually(lambda: core.read_namespaced_service_account(worker_name(STREAM), namespace), timeout=60)
    core.create_namespaced_pod(namespace, worker_pod("orders-a", namespace, spec))
    feed.send(telemetry(time.time(), normal(50)))

    def degraded() -> str:
        status = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "insightstreams", STREAM)[
            "status"
        ]
        failing = [c for c in status["conditions"] if c["type"] == "Degraded" and c["status"] == "True"]
        assert failing and failing[0]["reason"] == "CheckpointFailing", status
        return str(failing[0]["message"])

    assert "more than one ConfigMap holds" in eventually(degraded, timeout=60, interval=0.5)
    assert feed.acknowledged() == 0  # handled, but never acknowledged without its checkpoint

    core.patch_namespaced_config_map(state_name(STREAM), namespace, {"binaryData": {"filler": None}})
    eventually(lambda: feed.acknowledged() == 50, timeout=60, interval=0.5)

    def recovered() -> bool:
        status = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "insightstreams", STREAM)[
            "status"
        ]
        assert not [c for c in status["conditions"] if c["type"] == "Degraded" and c["status"] == "True"]
        return status["ingested"] == 50

    eventually(recovered, timeout=60, interval=0.5)
