"""The detector tuner replays its streams' history from every kind of source, on the local control
plane with real brokers and real worker and trainer processes.

- Kafka: the window is found by timestamp on Apache Kafka and by a scan on tansu (whose ListOffsets
  answers cannot be trusted); records before the window or produced after the training started are
  left out, on every partition.
- HTTP push: the worker keeps what it accepted in its on-disk ring; the trainer Job reads it through
  the worker's ``GET /history`` with a token of its own account (TokenReview + SubjectAccessReview),
  also after the worker's container was SIGKILLed and restarted; other identities are refused.
- Redis: the stream is replayed with XRANGE.

The HTTP test goes on to auto-demote: a second tuned version whose runs turn out mostly false
positives (attributed by the version each run records) gives the alias back to the first.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from kubernetes import client
from tests.support import event_reasons, eventually, free_port
from tests.support.brokers import create_topics
from tests.support.identities import service_account_token
from tests.support.learning import GROUP, VERSION, labelled_series, model_version, settled

from naksha.controllers.modelversion import aliases, archive
from naksha.domain.insight.records import Record
from naksha.domain.learning.outcomes import rfc3339
from naksha.domain.learning.training import TrainingError
from naksha.kube import Kube
from naksha.models.insightstream import InsightStreamSpec
from naksha.models.labels import INSIGHT_STREAM_LABEL
from naksha.services.trainer import history

WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # a naksha image: the local kubelet runs it as a process
WINDOW_START = 1_789_000_000.0  # the labelled series starts at 1_790_000_000 (tests.support.learning)
DETECTOR = {
    "name": "latency",
    "metric": "latency_ms",
    "method": "ewma",
    "minSamples": 30,
    "params": {"ewma": {"zscore": 4.0}},
}


def payload(record: Record) -> bytes:
    return json.dumps({"ts": record.ts, "metric": record.metric, "value": record.value}).encode()


def kafka_spec(bootstrap: str, topic: str) -> InsightStreamSpec:
    return InsightStreamSpec.model_validate(
        {
            "replicas": 0,
            "source": {"type": "kafka", "kafka": {"bootstrapServers": [bootstrap], "topic": topic}},
            "detectors": [DETECTOR],
        }
    )


async def produce(bootstrap: str, topic: str, records: list[Record], *, stamp: float | None = None) -> None:
    """Each record on partition ``i % 3``, stamped with its own time (or ``stamp``)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, record in enumerate(records):
            at = record.ts if stamp is None else stamp
            await producer.send(topic, payload(record), partition=i % 3, timestamp_ms=int(at * 1000))
        await producer.flush()
    finally:
        await producer.stop()


def kafka_window_is_replayed(broker: Any) -> None:
    topic = f"history-{broker.kind}-{int(time.time() * 1000)}"
    asyncio.run(create_topics(broker, topic, partitions=3))
    before = [Record(WINDOW_START - 5000 + i, "latency_ms", 1.0) for i in range(300)]
    inside = [Record(WINDOW_START + 10 * i, "latency_ms", 100.0 + i % 7) for i in range(2000)]
    asyncio.run(produce(broker.bootstrap, topic, before + inside))
    until = time.time()
    late = [Record(until + 5 + i, "latency_ms", 9.0) for i in range(50)]  # brokers refuse far futures
    asyncio.run(produce(broker.bootstrap, topic, late))

    replayed = history.replay_kafka(kafka_spec(broker.bootstrap, topic), WINDOW_START, until)
    assert sorted(r.ts for r in replayed) == [r.ts for r in inside]
    assert {r.metric for r in replayed} == {"latency_ms"}


class TestKafka:
    def test_apache_kafka_finds_the_window_by_timestamp_on_every_partition(self, kafka_broker: Any) -> None:
        if kafka_broker.kind != "kafka":
            pytest.skip("the session's Kafka broker is tansu (Apache Kafka is not fetched here)")
        kafka_window_is_replayed(kafka_broker)

    def test_tansu_is_scanned_from_the_beginning_and_cut_by_timestamp(self, tansu_broker: Any) -> None:
        kafka_window_is_replayed(tansu_broker)

    def test_a_missing_topic_is_a_training_error_naming_it(self, tansu_broker: Any) -> None:
        with pytest.raises(TrainingError, match="does not exist"):
            history.replay_kafka(
                kafka_spec(tansu_broker.bootstrap, "no-such-topic"), WINDOW_START, time.time()
            )


def test_redis_streams_are_replayed_over_the_window(api_client: client.ApiClient, redis_broker: Any) -> None:
    import redis

    stream = f"history-{int(time.time() * 1000)}"
    connection = redis.Redis.from_url(redis_broker.url)
    records = [Record(time.time() - 100 + i * 0.01, "latency_ms", float(i)) for i in range(500)]
    for record in records:
        connection.xadd(stream, {"data": payload(record)})
    spec = InsightStreamSpec.model_validate(
        {
            "source": {"type": "redis", "redis": {"url": redis_broker.url, "stream": stream}},
            "detectors": [DETECTOR],
        }
    )
    replayed = history.replay_redis(Kube(api_client), "default", spec, time.time() - 3600)
    assert sorted(r.value for r in replayed) == [r.value for r in records]


def http_stream(name: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InsightStream",
        "metadata": {"name": name},
        "spec": {
            "source": {"type": "http", "http": {"port": port, "auth": "none"}},
            "detectors": [DETECTOR],
        },
    }


def push(address: str, port: int, records: list[Record]) -> None:
    for start in range(0, len(records), 1000):
        body = json.dumps(
            [{"ts": r.ts, "metric": r.metric, "value": r.value} for r in records[start : start + 1000]]
        ).encode()
        request = urllib.request.Request(
            f"http://{address}:{port}/ingest", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202


def ring_report(custom: client.CustomObjectsApi, namespace: str, stream: str) -> dict[str, Any]:
    body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "insightstreams", stream)
    reports = [r for r in ((body.get("status") or {}).get("workers") or {}).values() if r]
    rings = [r["history"] for r in reports if (r.get("history") or {}).get("url")]
    assert len(rings) == 1, reports
    return dict(rings[0])


def ready(custom: client.CustomObjectsApi, namespace: str, stream: str) -> bool:
    body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "insightstreams", stream)
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def restarted_and_ready(core: client.CoreV1Api, namespace: str, stream: str) -> bool:
    """The stream's worker pod runs its restarted container and passes its readiness probe again:
    until then its Service has no endpoint to send a push to."""
    (pod,) = core.list_namespaced_pod(namespace, label_selector=f"{INSIGHT_STREAM_LABEL}={stream}").items
    statuses = pod.status.container_statuses or []
    conditions = pod.status.conditions or []
    restarted = bool(statuses) and all((s.restart_count or 0) >= 1 for s in statuses)
    return restarted and any(c.type == "Ready" and c.status == "True" for c in conditions)


def worker_pid(namespace: str) -> int:
    """The pid of the stream's worker process (the local kubelet runs the pod's container as one)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"insight-worker" in cmdline and f"NAKSHA_STREAM_NAMESPACE={namespace}".encode() in environ:
            return int(entry.name)
    raise AssertionError(f"no insight worker process of namespace {namespace}")


def tuner_version(name: str, stream: str) -> dict[str, Any]:
    return model_version(
        name,
        model="latency-tuner",
        source={"window": "2400h", "minSamples": 5, "insightStreams": [stream]},
        trainer={
            "algorithm": "detector-tuner",
            "timeout": "5m",
            "params": {"methods": ["ewma"], "keepRecall": True},
        },
        evaluation={"metrics": [{"name": "f1", "threshold": 0.0}], "holdoutFraction": 0.3},
    )


def fired_run(name: str, version: str, *, real: bool) -> dict[str, Any]:
    """The outcome record of a run a worker's trigger started while ``version``'s parameters ran;
    ``real``: it acted, else a human labelled its anomaly a false positive."""
    record: dict[str, Any] = {
        "run": f"live/{name}",
        "finishedAt": rfc3339(time.time() + 2),
        "detector": "latency",
        "playbook": "page-oncall",
        "resolved": real,
        "acted": True,
        "detectorModelVersion": version,
    }
    return record if real else {**record, "label": "false-positive"}


def test_http_push_history_is_read_from_the_workers_ring_and_a_version_firing_more_false_positives_is_demoted(
    naksha_operator: int,
    api_client: client.ApiClient,
    fresh_namespace: str,
    kubectl: Any,
    access_reviewer_role: str,  # bound to the worker by the operator: it reviews the trainer's token
) -> None:
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    kube = Kube(api_client)
    port = free_port()
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "insightstreams", http_stream("pushed", port)
    )
    records, outcomes = labelled_series(samples=4000, incidents=8)
    assert archive.rewrite(kube, fresh_namespace, lambda _: outcomes)
    address = eventually(
        lambda: core.read_namespaced_service("pushed-insight", fresh_namespace).spec.cluster_ip, timeout=60
    )
    eventually(lambda: ready(custom, fresh_namespace, "pushed"), timeout=90, interval=0.5)
    eventually(lambda: ring_report(custom, fresh_namespace, "pushed")["url"], timeout=60, interval=0.5)
    push(address, port, records[:2000])
    eventually(lambda: ring_report(custom, fresh_namespace, "pushed")["appended"] == 2000, timeout=60)

    # The container dies (SIGKILL) and restarts in the same pod: the ring is on its emptyDir.
    os.kill(worker_pid(fresh_namespace), signal.SIGKILL)
    # The restarted process reports a ring of its own appends (none yet) over the same directory.
    eventually(
        lambda: ring_report(custom, fresh_namespace, "pushed")["appended"] == 0, timeout=90, interval=0.5
    )
    eventually(lambda: restarted_and_ready(core, fresh_namespace, "pushed"), timeout=90, interval=0.5)
    push(address, port, records[2000:])
    eventually(lambda: ring_report(custom, fresh_namespace, "pushed")["appended"] == 2000, timeout=60)

    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "modelversions", tuner_version("latency-tuner-v1", "pushed")
    )
    status = settled(custom, fresh_namespace, "latency-tuner-v1", "Promoted")
    assert status["lineage"]["records"] == 4000  # both lives of the worker, nothing twice
    assert status["lineage"]["algorithm"] == "detector-tuner"

    # A second version takes the alias; the runs its parameters' anomalies start turn out mostly
    # false positives (labelled so), against its predecessor's mostly real ones: it is demoted.
    second = tuner_version("latency-tuner-v2", "pushed")
    second["spec"]["promotion"].update(requireImprovement=False, autoDemote={"minUses": 10, "margin": 0.2})
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "modelversions", second)
    settled(custom, fresh_namespace, "latency-tuner-v2", "Promoted")
    live = [fired_run(f"v1-{i}", "latency-tuner-v1", real=i != 0) for i in range(12)]
    live += [fired_run(f"v2-{i}", "latency-tuner-v2", real=i < 4) for i in range(12)]
    # One write, so the operator judges all of them at once, not the first ten of each.
    assert archive.rewrite(kube, fresh_namespace, lambda records: [*records, *live])
    demoted = settled(custom, fresh_namespace, "latency-tuner-v2", "Evaluated")
    (promoted,) = [c for c in demoted["conditions"] if c["type"] == "Promoted"]
    assert promoted["reason"] == "Demoted" and "false positives 8/12" in promoted["message"], promoted
    assert aliases.read_aliases(kube, fresh_namespace, "latency-tuner")["production"].holder.version == (
        "latency-tuner-v1"
    )
    eventually(lambda: "Demoted" in event_reasons(core, fresh_namespace, "latency-tuner-v2"), timeout=15)

    # Nobody else reads the ring: a token of another audience, or of an account without the grant.
    url = ring_report(custom, fresh_namespace, "pushed")["url"]
    for token, expected in (
        (service_account_token(kubectl, fresh_namespace, "default"), 401),
        (
            service_account_token(
                kubectl, fresh_namespace, "default", "--audience", history.HISTORY_AUDIENCE
            ),
            403,
        ),
    ):
        request = urllib.request.Request(f"{url}?since=0", headers={"Authorization": f"Bearer {token}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == expected
