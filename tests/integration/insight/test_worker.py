"""An insight worker against real brokers and the local control plane: Redis, HTTP push, crash safety."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client, config
from tests.support import ROOT, eventually, free_port
from tests.support.brokers import committed_offsets
from tests.support.workers import agent_runs, create_stream, worker_env

from naksha.kube import Kube
from naksha.services.insight.config import WorkerConfig
from naksha.services.insight.worker import InsightWorker

GROUP, VERSION = "naksha.io", "v1alpha1"
DETECTOR = {
    "name": "latency",
    "metric": "latency",
    "method": "threshold",
    "minSamples": 1,
    "params": {"threshold": {"above": 1.0}},
}
TRIGGER = {
    "name": "scale-out",
    "detector": "latency",
    "debounce": "1h",
    "agentRun": {"playbook": "scale-out-on-latency"},
}


@pytest.fixture
async def http_worker(control_plane, api_client, stream_namespace) -> AsyncIterator[InsightWorker]:
    port = free_port()
    spec = {
        "source": {"type": "http", "http": {"port": port, "maxBodyBytes": 4096, "auth": "none"}},
        "detectors": [DETECTOR],
        "triggers": [TRIGGER],
    }
    create_stream(api_client, stream_namespace, "push", spec)
    kube = Kube(config.new_client_from_config(config_file=str(control_plane.kubeconfig_path)))
    worker = InsightWorker(
        WorkerConfig.from_env(worker_env(stream_namespace, "push", spec, port)), kube=kube, host="127.0.0.1"
    )
    task = asyncio.create_task(worker.run())
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"http://127.0.0.1:{port}/health") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    yield worker
    worker.stop()
    await task


async def post(port: int, body: bytes) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{port}/ingest", data=body) as r,
    ):
        return r.status, await r.json()


async def test_http_push_accepts_a_batch_counts_rejects_and_triggers_once(
    http_worker, api_client, stream_namespace
):
    now = time.time()
    batch = [{"ts": now + i, "metric": "latency", "value": 0.1} for i in range(5)]
    batch += [{"ts": now + 5, "metric": "latency", "value": 3.0}, {"metric": "latency"}, 42]
    status, answer = await post(http_worker.port, json.dumps(batch).encode())
    assert status == 202
    assert answer["accepted"] == 6 and answer["rejected"] == 2
    assert [r["reason"] for r in answer["reasons"]] == ["missing_value", "not_object"]
    runs = await asyncio.to_thread(agent_runs, api_client, stream_namespace)
    assert len(runs) == 1 and runs[0]["spec"]["signal"]["value"] == 3.0


async def test_http_push_answers_400_for_nothing_usable_and_413_over_the_limit(http_worker):
    status, answer = await post(http_worker.port, b"{broken")
    assert status == 400 and "invalid_json" in answer["error"]
    status, answer = await post(http_worker.port, b"[" + b"1," * 3000 + b"1]")
    assert status == 413 and "4096" in answer["error"]


async def test_the_worker_reports_its_counts_into_the_stream_status(
    http_worker, api_client, stream_namespace
):
    await post(http_worker.port, json.dumps([{"metric": "latency", "value": 0.5}, "junk"]).encode())
    await http_worker.reporter.report()
    stream = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        GROUP, VERSION, stream_namespace, "insightstreams", "push"
    )
    report = stream["status"]["workers"]["push-worker-0"]
    assert (report["ingested"], report["rejected"]) == (1, 1)


PAYLOADS = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none()
        | st.booleans()
        | st.floats(allow_nan=False)
        | st.integers(-(2**63), 2**63 - 1)
        | st.text(max_size=6),
        lambda kids: (
            st.lists(kids, max_size=4)
            | st.dictionaries(st.sampled_from(["ts", "metric", "value", "labels", "x"]), kids, max_size=4)
        ),
        max_leaves=10,
    ).map(lambda doc: json.dumps(doc).encode()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=PAYLOADS)
async def test_arbitrary_input_to_ingest_never_breaks_the_worker_and_every_reject_is_counted(
    http_worker, payload
):
    before = http_worker.pipeline.rejected
    status, answer = await post(http_worker.port, payload)
    assert status in (202, 400)
    assert http_worker.pipeline.rejected - before == answer["rejected"]


async def test_a_redis_stream_is_consumed_and_its_rejects_dead_lettered(
    control_plane, api_client, stream_namespace, redis_broker
):
    key = f"telemetry-{uuid.uuid4().hex[:6]}"
    spec = {
        "source": {"type": "redis", "redis": {"url": redis_broker.url, "stream": key, "group": "workers"}},
        "detectors": [DETECTOR],
        "triggers": [TRIGGER],
        "deadLetter": {"enabled": True, "topic": f"{key}.dlq"},
    }
    create_stream(api_client, stream_namespace, "redis-stream", spec)
    r = aioredis.from_url(redis_broker.url)
    now = time.time()
    for i in range(20):
        await r.xadd(key, {"data": json.dumps({"ts": now + i, "metric": "latency", "value": 0.2})})
    await r.xadd(key, {"data": json.dumps({"ts": now + 20, "metric": "latency", "value": 9.0})})
    await r.xadd(key, {"data": "garbage"})
    kube = Kube(config.new_client_from_config(config_file=str(control_plane.kubeconfig_path)))
    worker = InsightWorker(
        WorkerConfig.from_env(worker_env(stream_namespace, "redis-stream", spec, free_port())),
        kube=kube,
        host="127.0.0.1",
    )
    task = asyncio.create_task(worker.run())
    try:
        # Dead-lettering follows the count of rejects: wait for all three, not just the first two.
        for _ in range(600):
            counted = (worker.pipeline.ingested, worker.pipeline.rejected, worker.pipeline.dead_lettered)
            if counted[0] + counted[1] >= 22 and counted[2] >= 1:
                break
            await asyncio.sleep(0.05)
        assert (worker.pipeline.ingested, worker.pipeline.rejected, worker.pipeline.dead_lettered) == (
            21,
            1,
            1,
        )
        assert [fields[b"data"] for _, fields in await r.xrange(f"{key}.dlq")] == [b"garbage"]
        # The AgentRun is created after the batch was counted: wait for it.
        for _ in range(600):
            if await asyncio.to_thread(agent_runs, api_client, stream_namespace):
                break
            await asyncio.sleep(0.05)
        assert len(await asyncio.to_thread(agent_runs, api_client, stream_namespace)) == 1
    finally:
        worker.stop()
        await task
        await r.aclose()
    assert (await aioredis.from_url(redis_broker.url).xpending(key, "workers"))["pending"] == 0


def test_a_worker_killed_after_triggering_loses_no_record_and_duplicates_no_agent_run(
    control_plane, api_client, stream_namespace, kafka_broker, tmp_path: Path
):
    topic, group = f"crash-{uuid.uuid4().hex[:6]}", "crash-workers"
    spec = {
        "source": {
            "type": "kafka",
            "kafka": {
                "bootstrapServers": [kafka_broker.bootstrap],
                "topic": topic,
                "group": group,
                "sessionTimeout": "2s",
            },
        },
        "detectors": [DETECTOR],
        "triggers": [TRIGGER],
    }
    create_stream(api_client, stream_namespace, "crashy", spec)
    # Records stamped inside one debounce window, so the incident is the same one on replay.
    base = (time.time() // 3600) * 3600 + 60
    records = [{"ts": base + i, "metric": "latency", "value": 0.2} for i in range(30)]
    records += [{"ts": base + 30 + i, "metric": "latency", "value": 5.0} for i in range(3)]

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
        await producer.start()
        for record in records:
            await producer.send(topic, json.dumps(record).encode())
        await producer.stop()

    asyncio.run(produce())
    env = {
        **os.environ,
        "KUBECONFIG": str(control_plane.kubeconfig_path),
        "PYTHONPATH": str(ROOT / "operator"),
    }

    def start(**extra: str) -> tuple[subprocess.Popen[bytes], int]:
        log = (tmp_path / f"worker-{len(list(tmp_path.iterdir()))}.log").open("wb")
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "naksha", "insight-worker"],
            env={**env, **worker_env(stream_namespace, "crashy", spec, port, **extra)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return process, port

    # It dies mid-batch: its AgentRun exists, its offsets are not committed.
    first, _ = start(NAKSHA_CRASH_POINT="insight.after-trigger")
    try:
        assert first.wait(timeout=120) == -signal.SIGKILL
    finally:
        first.kill()
        first.wait(timeout=10)
    assert agent_runs(api_client, stream_namespace)

    async def committed() -> int:
        """Records the group has acknowledged, across the topic's partitions (Kafka's admin API on Kafka)."""
        return sum((await committed_offsets(kafka_broker, group, topic)).values())

    assert asyncio.run(committed()) < len(records)
    second, port = start()
    try:
        eventually(lambda: asyncio.run(committed()) == len(records), timeout=60, interval=0.5)
        # The replay met the same incident, and the API refused its second AgentRun.
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert (
            'naksha_insight_agentruns_total{result="duplicate",stream="crashy",trigger="scale-out"} 1.0'
            in metrics
        )
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    runs = agent_runs(api_client, stream_namespace)
    assert len(runs) == 1, [r["metadata"]["name"] for r in runs]
