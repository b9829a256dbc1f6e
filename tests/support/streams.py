"""InsightStreams on the local control plane: a stream's body and records produced to its topic."""

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
