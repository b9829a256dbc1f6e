"""The Rollout's I/O on its own objects: the canary's readiness, both Deployments, consumed commands.

What the Deployments should be is decided by the reconciler's steps and built by
``naksha.workloads.rollout``; these functions only read and write them through ``naksha.kube``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from naksha.kube import KubeApi, KubeError
from naksha.models.labels import REVISION_LABEL
from naksha.models.resources import DEPLOYMENTS, ROLLOUTS
from naksha.workloads.rollout import deployment_name


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


def consume_commands(kube: KubeApi, namespace: str, rollout: str, annotations: Iterable[str]) -> None:
    """Remove the command annotations this pass carried out, so none is carried out twice."""
    consumed: dict[str, Any] = dict.fromkeys(annotations)
    if consumed:
        kube.merge_patch(ROLLOUTS, namespace, rollout, {"metadata": {"annotations": consumed}})
