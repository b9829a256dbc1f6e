"""A worker with the ``predictive`` detector and its defaults, fed a realistic noisy stream through
Redis: a day's cycle, noise (uniform, +-6) with occasional slow requests, one incident. The incident
is one AgentRun; the cycle and the noise are none."""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid

import redis.asyncio as aioredis
from kubernetes import config
from tests.support import free_port
from tests.support.workers import agent_runs, create_stream, worker_env

from naksha.kube import Kube
from naksha.services.insight.config import WorkerConfig
from naksha.services.insight.worker import InsightWorker

SAMPLES = 2400  # 40 hours at one sample a minute
INCIDENT = range(1800, 1830)  # half an hour of latency far above the day's shape


def latency_stream(start: float) -> list[dict[str, object]]:
    rng = random.Random(2026)
    records = []
    for i in range(SAMPLES):
        value = 120 + 40 * math.sin(2 * math.pi * i / 1440) + rng.uniform(-6, 6)
        if rng.random() < 0.01:
            value += abs(rng.gauss(0, 5))  # the odd slow request: noise, not an incident
        if i in INCIDENT:
            value += 150 + rng.gauss(0, 10)
        records.append(
            {"ts": start + 60 * i, "metric": "latency", "value": round(value, 3), "labels": {"svc": "api"}}
        )
    return records


async def test_a_noisy_stream_with_one_incident_becomes_exactly_one_agent_run(
    control_plane,
    api_client,
    stream_namespace,
    redis_broker,
):
    key = f"telemetry-{uuid.uuid4().hex[:6]}"
    spec = {
        "source": {"type": "redis", "redis": {"url": redis_broker.url, "stream": key, "group": "workers"}},
        "detectors": [{"name": "latency", "metric": "latency", "method": "predictive"}],
        "triggers": [
            {"name": "investigate", "detector": "latency", "debounce": "1s", "agentRun": {"playbook": "p"}}
        ],
    }
    create_stream(api_client, stream_namespace, "forecast", spec)
    r = aioredis.from_url(redis_broker.url)
    start = time.time() - 60 * SAMPLES
    stream = latency_stream(start)
    async with r.pipeline(transaction=False) as pipe:
        for record in stream:
            pipe.xadd(key, {"data": json.dumps(record)})
        await pipe.execute()
    kube = Kube(config.new_client_from_config(config_file=str(control_plane.kubeconfig_path)))
    worker = InsightWorker(
        WorkerConfig.from_env(worker_env(stream_namespace, "forecast", spec, free_port())),
        kube=kube,
        host="127.0.0.1",
    )
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(400):
            if worker.pipeline.ingested >= SAMPLES:
                break
            await asyncio.sleep(0.05)
        assert worker.pipeline.ingested == SAMPLES
        assert worker.pipeline.anomalies == 1
        (run,) = await asyncio.to_thread(agent_runs, api_client, stream_namespace)
        signal = run["spec"]["signal"]
        assert signal["value"] == stream[INCIDENT.start]["value"]
        assert 0.5 <= signal["score"] <= 1.0
    finally:
        worker.stop()
        await task
        await r.aclose()
