"""What the ChaosExperiment tests share: demo Deployments, experiments, waits on verdicts."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from tests.support import eventually

GROUP, VERSION, PLURAL = "naksha.io", "v1alpha1", "chaosexperiments"


def demo_deployment(name: str, replicas: int = 2) -> dict[str, Any]:
    """Pods that run ``naksha demo-app`` as real processes, ready once they answer."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "app",
                            "image": "naksha",
                            "args": ["demo-app"],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http"},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }


def available_probe(deployment: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": f"{deployment}-available",
        "type": "kubernetes",
        "resource": {"kind": "Deployment", "name": deployment},
        **fields,
    }


def experiment(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ChaosExperiment",
        "metadata": {"name": name},
        "spec": spec,
    }


class Chaos:
    """The experiments of one namespace, through the real client."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)

    def create(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def status(self, name: str) -> dict[str, Any]:
        obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        return dict(obj.get("status") or {})

    def annotate(self, name: str, key: str, value: str) -> None:
        patch = {"metadata": {"annotations": {key: value}}}
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name, patch)

    def verdict(self, name: str, runs: int = 1, timeout: float = 90) -> dict[str, Any]:
        """The ``runs``-th finished run, once it has a verdict."""
        return eventually(
            lambda: (h := self.status(name).get("history") or []) and len(h) >= runs and h[runs - 1],
            timeout=timeout,
        )

    def stage(self, name: str, stage: str, timeout: float = 60) -> dict[str, Any]:
        return eventually(
            lambda: (run := self.status(name).get("currentRun")) and run.get("stage") == stage and run,
            timeout=timeout,
        )

    def ready_pods(self, app: str, count: int, timeout: float = 90) -> list[Any]:
        def ready() -> list[Any] | None:
            pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"app={app}").items
            live = [p for p in pods if p.metadata.deletion_timestamp is None]
            ok = len(live) == count and all(
                any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []) for p in live
            )
            return live if ok else None

        return list(eventually(ready, timeout=timeout))

    def deploy(self, body: dict[str, Any]) -> None:
        self.apps.create_namespaced_deployment(self.namespace, body)
