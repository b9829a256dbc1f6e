"""AgentRuns on the local control plane: a target Deployment, the run's body, its status, an anomaly."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from naksha.models.group import GROUP, VERSION


def deployment(name: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "app:1"}]},
            },
        },
    }


def stream(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InsightStream",
        "metadata": {"name": name},
        "spec": {
            "source": {"type": "http", "http": {"port": 18300}},
            "replicas": 0,
            "detectors": [
                {
                    "name": "p99",
                    "metric": "latency",
                    "method": "threshold",
                    "params": {"threshold": {"above": 1}},
                }
            ],
        },
    }


def scale_graph(delta: int = 2) -> dict[str, Any]:
    return {
        "start": "observe",
        "nodes": [
            {
                "name": "observe",
                "type": "observe",
                "wpk": "query-metric",
                "params": {"stream": "web-latency", "detector": "p99"},
                "next": "decide",
            },
            {
                "name": "decide",
                "type": "decide",
                "edges": [{"when": "state.anomalous and state.replicas < 10", "to": "scale"}, {"to": "done"}],
            },
            {"name": "scale", "type": "act", "wpk": "scale", "params": {"delta": delta}, "next": "verify"},
            {
                "name": "verify",
                "type": "verify",
                "wpk": "query-metric",
                "timeout": "30s",
                "params": {"stream": "web-latency", "detector": "p99"},
                "next": "done",
            },
            {"name": "done", "type": "end"},
        ],
    }


def agent_run(name: str, target: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AgentRun",
        "metadata": {"name": name},
        "spec": {"graph": scale_graph(), "target": {"kind": "Deployment", "name": target}, **spec},
    }


def setup(api_client: client.ApiClient, namespace: str, target: str) -> tuple[Any, Any]:
    apps, custom = client.AppsV1Api(api_client), client.CustomObjectsApi(api_client)
    apps.create_namespaced_deployment(namespace, deployment(target))
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "insightstreams", stream("web-latency"))
    anomaly(custom, namespace, age=0)
    return apps, custom


def anomaly(custom: Any, namespace: str, *, age: float) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - age))
    custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        "insightstreams",
        "web-latency",
        {"status": {"lastAnomaly": {"p99": {"detectedAt": stamp, "value": 3.2}}}},
    )


def run_status(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    return dict(
        custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "agentruns", name).get("status") or {}
    )
