"""The demo's telemetry: one Kafka topic and the InsightStream whose detectors watch it.

The scenes read the same stream, as one team's services would share one: scene 1 scales
``checkout`` out when its p99 latency detector fires, scene 3's Rollout analysis reads the canary
error detector, and scene 4's outage (``checkout`` scaled to zero by a ChaosExperiment) shows as
``checkout``'s error ratio, whose detector starts the run that brings its capacity back. The
stream is created once (a scene run on its own creates it too).
"""

from __future__ import annotations

import asyncio
from typing import Any

from naksha.demo.stage import Stage
from naksha.demo.traffic import ERRORS_METRIC, LATENCY_METRIC
from naksha.kube import NotFound
from naksha.models.group import API_VERSION
from naksha.models.resources import INSIGHT_STREAMS as STREAMS
from naksha.models.resources import SERVICES

STREAM = "telemetry"
TOPIC = "naksha.telemetry"
LATENCY_DETECTOR = "p99-latency"
ERRORS_DETECTOR = "canary-errors"
OUTAGE_DETECTOR = "checkout-errors"
OUTAGE_TRIGGER = "restore-capacity"
OUTAGE_REPLICAS = 5  # what the outage's run scales checkout back to: the capacity scene 1 found it needs
LATENCY_LIMIT_SECONDS = 1.0  # ten times the service time; a busy machine alone stays well under it
ERROR_LIMIT = 0.1
OUTAGE_ERROR_LIMIT = 0.5
WORKER_PORT = 8010


def topic_for(namespace: str) -> str:
    """The plan's topic name; a namespace of its own (a test's) gets a topic and group of its own."""
    return TOPIC if namespace == "default" else f"{TOPIC}.{namespace}"


def stream_body(stage: Stage) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "InsightStream",
        "metadata": {"name": STREAM, "namespace": stage.namespace},
        "spec": {
            "source": {
                "type": "kafka",
                # A short session: the group joins quickly when the worker starts.
                "kafka": {
                    "bootstrapServers": [stage.bootstrap],
                    "topic": topic_for(stage.namespace),
                    "group": f"{stage.namespace}-demo-insight",
                    "sessionTimeout": "2s",
                },
            },
            "detectors": [
                {
                    "name": LATENCY_DETECTOR,
                    "metric": LATENCY_METRIC,
                    "labels": {"service": "checkout"},
                    "method": "threshold",
                    "params": {"threshold": {"above": LATENCY_LIMIT_SECONDS}},
                    "minSamples": 3,
                    "cooldown": "3s",
                },
                {
                    "name": ERRORS_DETECTOR,
                    "metric": ERRORS_METRIC,
                    "labels": {"service": "storefront", "role": "canary"},
                    "method": "threshold",
                    "params": {"threshold": {"above": ERROR_LIMIT}},
                    "minSamples": 1,
                    "cooldown": "2s",
                },
                {
                    # checkout's own requests failing: refused while it has no ready pod.
                    "name": OUTAGE_DETECTOR,
                    "metric": ERRORS_METRIC,
                    "labels": {"service": "checkout"},
                    "method": "threshold",
                    "params": {"threshold": {"above": OUTAGE_ERROR_LIMIT}},
                    "minSamples": 3,
                    "cooldown": "2s",
                },
            ],
            "triggers": [
                {
                    "name": "scale-out",
                    "detector": LATENCY_DETECTOR,
                    # One run per incident in the story: a cold replica's slow first answers
                    # after scene 4's recovery are not a second surge.
                    "debounce": "5m",
                    "agentRun": {
                        "playbook": "scale-out-on-latency",
                        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
                        "spec": {"inputs": {"step": 3, "maxReplicas": 6}},
                    },
                },
                {
                    # The same playbook: observe the signal's detector, scale out while it is
                    # anomalous and below maxReplicas, verify the detector recovered. From zero,
                    # one step gives checkout back the capacity scene 1 found it needs.
                    "name": OUTAGE_TRIGGER,
                    "detector": OUTAGE_DETECTOR,
                    "debounce": "5m",
                    "agentRun": {
                        "playbook": "scale-out-on-latency",
                        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
                        "spec": {"inputs": {"step": OUTAGE_REPLICAS, "maxReplicas": 6}},
                    },
                },
            ],
        },
    }


def ensure_stream(stage: Stage) -> dict[str, Any]:
    """The stream, Running; created (with its topic) when it is not there yet."""
    try:
        existing = stage.kube.get(STREAMS, stage.namespace, STREAM)
    except NotFound:
        topic = topic_for(stage.namespace)
        asyncio.run(_create_topic(stage.bootstrap, topic))
        stage.kube.create(stream_body(stage))
        stage.progress.say(f"InsightStream {STREAM} created: Kafka topic {topic} at {stage.bootstrap}")
    else:
        if (existing.get("status") or {}).get("phase") == "Running":
            return existing

    def running() -> dict[str, Any] | None:
        body = stage.kube.get(STREAMS, stage.namespace, STREAM)
        return body if (body.get("status") or {}).get("phase") == "Running" else None

    body = stage.wait_for(f"InsightStream {STREAM} to be Running", running)
    assert isinstance(body, dict)
    address = worker_address(stage)
    if address:
        stage.urls["insight worker /health"] = f"http://{address}:{WORKER_PORT}/health"
        stage.urls["insight worker /metrics"] = f"http://{address}:{WORKER_PORT}/metrics"
    stage.progress.say(f"InsightStream {STREAM} Running: its worker consumes {topic_for(stage.namespace)}")
    return body


def worker_address(stage: Stage) -> str | None:
    """The worker Service's cluster IP (reachable from the host on the local control plane)."""
    try:
        service = stage.kube.get(SERVICES, stage.namespace, f"{STREAM}-insight")
    except NotFound:
        return None
    return (service.get("spec") or {}).get("clusterIP") or None


def stream_detectors(stage: Stage) -> dict[str, Any]:
    status = stage.kube.get(STREAMS, stage.namespace, STREAM).get("status") or {}
    return dict(status.get("detectors") or {})


async def _create_topic(bootstrap: str, topic: str) -> None:
    """Up front, so the worker's group gets its partitions when it joins."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1), NewTopic(f"{topic}.dlq", 1, 1)])
    except TopicAlreadyExistsError:
        pass  # a scene run before created it
    finally:
        await admin.close()
