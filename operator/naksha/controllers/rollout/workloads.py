"""The Rollout's I/O on its own objects: the canary's readiness, both Deployments, consumed commands.

What the Deployments should be is decided by the reconciler's steps and built by
``naksha.workloads.rollout``; these functions only read and write them through ``naksha.kube``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from naksha.errors import RetryableError
from naksha.kube import Conflict, KubeApi, KubeError
from naksha.models.labels import REVISION_LABEL
from naksha.models.resources import DEPLOYMENTS, ROLLOUTS
from naksha.workloads.rollout import deployment_name


class StaleRead(RetryableError):
    """The pass decided on an older copy of the Rollout: retried at once on a fresh read, unwritten."""

    def __init__(self, message: str) -> None:
        super().__init__(message, delay=1.0)


def canary_ready(kube: KubeApi, namespace: str, rollout: str, revision: str, wanted: int) -> bool:
    """Whether the canary Deployment runs ``wanted`` available pods of ``revision``."""
    try:
        canary = kube.get(DEPLOYMENTS, namespace, deployment_name(rollout, "canary"))
    except KubeError:
        return False
    spec = canary.get("spec") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    available = int((canary.get("status") or {}).get("availableReplicas") or 0)
    return bool(
        spec.get("replicas") == wanted and labels.get(REVISION_LABEL) == revision and available >= wanted
    )


def apply_deployments(kube: KubeApi, bodies: Iterable[dict[str, Any]], owner: Mapping[str, Any]) -> None:
    """Apply the stable and canary Deployments, owned by the Rollout (removed with it)."""
    for body in bodies:
        body["metadata"]["ownerReferences"] = [dict(owner)]
        kube.apply(body)


def consume_commands(
    kube: KubeApi,
    namespace: str,
    rollout: str,
    annotations: Iterable[str],
    *,
    guarded_by: str | None = None,
) -> None:
    """Remove the command annotations this pass carried out, so none is carried out twice.

    With ``guarded_by`` (the resourceVersion the pass read) the removal is a compare-and-swap: if
    the Rollout changed since, nothing is removed and ``StaleRead`` says the pass must not count.
    """
    consumed: dict[str, Any] = dict.fromkeys(annotations)
    if not consumed:
        return
    metadata: dict[str, Any] = {"annotations": consumed}
    if guarded_by is not None:
        metadata["resourceVersion"] = guarded_by
    try:
        kube.merge_patch(ROLLOUTS, namespace, rollout, {"metadata": metadata})
    except Conflict as error:
        raise StaleRead(f"rollout {namespace}/{rollout} changed since this pass read it") from error
