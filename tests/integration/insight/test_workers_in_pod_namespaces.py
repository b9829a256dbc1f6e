"""Insight workers run in their pods' own network namespaces, on the default port, next to each other.

Every Kafka or Redis worker listens on 8010; on a shared loopback two streams' workers collided.
Here each real ``naksha insight-worker`` process has its own namespace and address, consumes from a
broker on the host's loopback (named in its spec, or in a Secret), and reports through the API.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import pytest
import redis
from kubernetes import client
from tests.support import eventually
from tests.support.pods import answer, needs_namespaces, network_condition
from tests.support.streams import produce, stream

from naksha.models.group import GROUP, VERSION
from naksha.workloads.insight import WORKER_PORT

pytestmark = [
    needs_namespaces,
    pytest.mark.emulator_only(
        reason="the local kubelet's pod network; the real backend's node agent runs pods on the loopback"
    ),
]
WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # a naksha image: the kubelet runs it as a process


def phase(custom: client.CustomObjectsApi, namespace: str, name: str) -> str:
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "insightstreams", name)
    return str((obj.get("status") or {}).get("phase"))


def worker_pod(core: client.CoreV1Api, namespace: str, stream_name: str) -> Any:
    selector = f"naksha.io/insightstream={stream_name}"
    (pod,) = core.list_namespaced_pod(namespace, label_selector=selector).items
    return pod


def test_two_kafka_streams_workers_both_listen_on_the_default_port(
    naksha_operator, api_client, fresh_namespace, kafka_broker
):
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    for name in ("checkout", "payments"):
        topic = f"{name}-{uuid.uuid4().hex[:6]}"
        asyncio.run(produce(kafka_broker.bootstrap, topic, []))
        asyncio.run(produce(kafka_broker.bootstrap, f"{topic}.dlq", []))
        custom.create_namespaced_custom_object(
            GROUP, VERSION, fresh_namespace, "insightstreams", stream(name, kafka_broker.bootstrap, topic)
        )

    for name in ("checkout", "payments"):
        eventually(lambda: phase(custom, fresh_namespace, name) == "Running", timeout=90)  # noqa: B023
    pods = [worker_pod(core, fresh_namespace, name) for name in ("checkout", "payments")]
    assert len({pod.status.pod_ip for pod in pods}) == 2
    for pod in pods:
        assert network_condition(pod).status == "True"
        assert pod.status.container_statuses[0].restart_count == 0
        assert answer(f"http://{pod.status.pod_ip}:{WORKER_PORT}/health") is not None


def test_a_redis_worker_in_its_namespace_consumes_from_the_hosts_redis_named_in_a_secret(
    naksha_operator, api_client, fresh_namespace, redis_broker
):
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    key = f"telemetry-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_secret(
        fresh_namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="redis"),
            data={"url": base64.b64encode(redis_broker.url.encode()).decode()},
        ),
    )
    body = stream("events", "unused:0", "unused")
    body["spec"]["source"] = {
        "type": "redis",
        "redis": {"urlSecretRef": {"name": "redis", "key": "url"}, "stream": key, "group": "events-workers"},
    }
    body["spec"].pop("deadLetter")
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "insightstreams", body)
    eventually(lambda: phase(custom, fresh_namespace, "events") == "Running", timeout=90)

    with redis.Redis.from_url(redis_broker.url) as connection:
        for i in range(20):
            record = {"metric": "http_p99_seconds", "value": 0.2, "labels": {"i": str(i)}}
            connection.xadd(key, {"data": json.dumps(record)})

    def ingested() -> int:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "insightstreams", "events")
        return int((obj.get("status") or {}).get("ingested") or 0)

    assert eventually(lambda: ingested() == 20, timeout=60)
    assert network_condition(worker_pod(core, fresh_namespace, "events")).status == "True"
