"""The InsightStream's I/O: apply its workers' objects, read their Deployment and pods, drop its binding.

What the objects are is built by ``naksha.workloads`` (pure); what to make of what is read is
decided by ``naksha.reconcilers.insightstream``'s steps. Everything here goes through
``naksha.kube``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from naksha.kube import KubeApi, KubeError
from naksha.models.resources import CLUSTER_ROLE_BINDINGS, DEPLOYMENTS, PODS
from naksha.workloads.identity import review_binding_name
from naksha.workloads.insight import worker_name, worker_selector


class ApplyFailed(Exception):
    """Applying one of the workers' objects failed; ``what`` names it."""

    def __init__(self, what: str, error: KubeError) -> None:
        super().__init__(f"applying {what} failed: {error}")
        self.what = what


def apply_objects(kube: KubeApi, objects: Iterable[Mapping[str, Any]]) -> None:
    """Apply each object in order (server-side apply); the first failure stops, naming the object."""
    for obj in objects:
        try:
            kube.apply(obj)
        except KubeError as error:
            raise ApplyFailed(f"{obj['kind']} {obj['metadata']['name']}", error) from error


def forget_review_binding(kube: KubeApi, namespace: str, stream: str) -> None:
    """Delete the stream's cluster-scoped binding (no owner reference can do it); absent is fine."""
    kube.delete(CLUSTER_ROLE_BINDINGS, None, review_binding_name(namespace, stream))


def read_workers(kube: KubeApi, namespace: str, stream: str) -> dict[str, Any]:
    """The workers' Deployment as the API has it (``KubeError`` when it cannot be read)."""
    return kube.get(DEPLOYMENTS, namespace, worker_name(stream))


def live_pods(kube: KubeApi, namespace: str, stream: str) -> set[str] | None:
    """The names of the stream's worker pods, or None when they cannot be listed (unknown)."""
    selector = ",".join(f"{k}={v}" for k, v in worker_selector(stream).items())
    try:
        pods = kube.list(PODS, namespace, label_selector=selector)
    except KubeError:
        return None
    return {str(pod["metadata"]["name"]) for pod in pods}
