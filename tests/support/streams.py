"""InsightStreams on the local control plane: stream bodies and records produced to a topic."""

from __future__ import annotations

import json
from typing import Any

from aiokafka import AIOKafkaProducer

from naksha.models.group import GROUP, VERSION


def stream(name: str, bootstrap: str, topic: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InsightStream",
        "metadata": {"name": name},
        "spec": {
            "source": {
                "type": "kafka",
                "kafka": {
                    "bootstrapServers": [bootstrap],
                    "topic": topic,
                    "group": f"{name}-workers",
                    "sessionTimeout": "2s",
                },
            },
            "detectors": [
                {
                    "name": "latency",
                    "metric": "http_p99_seconds",
                    "method": "threshold",
                    "minSamples": 5,
                    "params": {"threshold": {"above": 1.0}},
                    "cooldown": "1m",
                },
            ],
            "triggers": [
                {
                    "name": "scale-out",
                    "detector": "latency",
                    "debounce": "5m",
                    "agentRun": {
                        "playbook": "scale-out-on-latency",
                        "target": {"kind": "Deployment", "name": "checkout"},
                    },
                },
            ],
            "deadLetter": {"enabled": True, "topic": f"{topic}.dlq"},
        },
    }


async def produce(bootstrap: str, topic: str, values: list[Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send(topic, json.dumps(value).encode() if not isinstance(value, bytes) else value)
        await producer.flush()
    finally:
        await producer.stop()


def latency_push_stream(
    name: str, port: int, *, target: str = "checkout", auth: str | None = "none", executor: str | None = None
) -> dict[str, Any]:
    """An HTTP-push stream whose p99 detector (above 1 s) triggers ``scale-out-on-latency`` on
    ``target``; ``auth: None`` leaves the source's default (Kubernetes tokens)."""
    http: dict[str, Any] = {"port": port} if auth is None else {"port": port, "auth": auth}
    run_spec: dict[str, Any] = {"inputs": {"step": 3, "maxReplicas": 8}}
    if executor is not None:
        run_spec = {"executor": executor, **run_spec}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InsightStream",
        "metadata": {"name": name},
        "spec": {
            "source": {"type": "http", "http": http},
            "detectors": [
                {
                    "name": "p99",
                    "metric": "http_p99_seconds",
                    "method": "threshold",
                    "minSamples": 3,
                    "cooldown": "2s",
                    "params": {"threshold": {"above": 1.0}},
                }
            ],
            "triggers": [
                {
                    "name": "scale-out",
                    "detector": "p99",
                    "agentRun": {
                        "playbook": "scale-out-on-latency",
                        "target": {"kind": "Deployment", "name": target},
                        "spec": run_spec,
                    },
                }
            ],
        },
    }
