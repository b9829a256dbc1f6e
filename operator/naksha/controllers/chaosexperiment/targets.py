"""Finding a run's candidates and the workloads they belong to."""

from __future__ import annotations

from typing import Any

from naksha.controllers.chaosexperiment import edge_blackout
from naksha.domain.chaos.selection import selector_string
from naksha.kube import KubeApi
from naksha.models.chaosexperiment import ChaosTarget, Fault
from naksha.models.resources import DEPLOYMENTS, PODS


def label_selector(target: ChaosTarget) -> str:
    selector = target.selector
    expressions = [(e.key, e.operator, e.values) for e in selector.match_expressions]
    return selector_string(dict(selector.match_labels), expressions)


def candidates(
    kube: KubeApi, namespace: str, target: ChaosTarget, fault: Fault | None = None
) -> dict[str, dict[str, Any]]:
    """Objects the selector matches, by name; pods being deleted are not candidates."""
    if target.kind == "EdgeNode":  # edge-blackout
        return edge_blackout.candidates(kube, namespace, label_selector(target), fault)
    ref = PODS if target.kind == "Pod" else DEPLOYMENTS
    items = kube.list(ref, namespace, label_selector=label_selector(target) or None)
    live = [item for item in items if not (item.get("metadata") or {}).get("deletionTimestamp")]
    if target.kind == "Pod":
        live = [item for item in live if (item.get("status") or {}).get("phase") in ("Running", "Pending")]
    return {str(item["metadata"]["name"]): item for item in live}


def workload_of(obj: dict[str, Any]) -> str:
    """The name of the workload a target belongs to (a pod's Deployment; a Deployment itself).

    On a cluster a Deployment's pods are owned by a ReplicaSet named ``<deployment>-<hash>``;
    here (and for bare pods) the owner, or the pod itself, names it.
    """
    metadata = obj.get("metadata") or {}
    if obj.get("kind", "Pod") != "Pod" and "ownerReferences" not in metadata:
        return str(metadata.get("name"))
    for owner in metadata.get("ownerReferences") or []:
        if owner.get("controller"):
            name = str(owner.get("name"))
            template_hash = (metadata.get("labels") or {}).get("pod-template-hash")
            if owner.get("kind") == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
                return name.removesuffix(f"-{template_hash}")
            return name
    return str(metadata.get("name"))
