"""The local kubelet's Deployment controller, as a pure planner.

Given a Deployment and the pods it owns, ``plan_deployment`` says which pods to create, which
to delete and what the Deployment's status is. The kubelet applies the plan and calls it again
whenever the Deployment or one of its pods changes, so each plan only needs to take the next
safe step. Pods are owned by the Deployment directly (there are no ReplicaSets here); the
``pod-template-hash`` label tells the current template's pods from the old ones, as it does in
Kubernetes, and a template change replaces pods within ``maxSurge``/``maxUnavailable``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from naksha.local.kubelet.ownership import owned_pod, pod_is_ready, random_suffix

TEMPLATE_HASH_LABEL = "pod-template-hash"


@dataclass
class DeploymentPlan:
    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)


def template_hash(template: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def plan_deployment(deployment: dict[str, Any], pods: list[dict[str, Any]], timestamp: str) -> DeploymentPlan:
    spec = deployment.get("spec") or {}
    desired = int(spec.get("replicas", 1))
    template = spec.get("template") or {}
    current_hash = template_hash(template)
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    current = [p for p in live if _hash_of(p) == current_hash]
    old = [p for p in live if _hash_of(p) != current_hash]
    surge, unavailable = _rolling_bounds(spec, desired)
    plan = DeploymentPlan()

    if not spec.get("paused"):
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            _recreate(plan, deployment, current, old, desired, current_hash)
        else:
            _roll(plan, deployment, current, old, desired, current_hash, surge, unavailable)

    remaining = [p for p in live if p["metadata"]["name"] not in plan.delete]
    updated = [p for p in remaining if _hash_of(p) == current_hash]
    ready = sum(1 for p in remaining if pod_is_ready(p))
    plan.status = _status(deployment, desired, remaining, updated, ready, unavailable, timestamp)
    return plan


def _rolling_bounds(spec: dict[str, Any], desired: int) -> tuple[int, int]:
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # what Kubernetes does to keep a rollout possible
    return surge, unavailable


def _scaled(value: int | str, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        fraction = float(value[:-1]) / 100 * total
        return math.ceil(fraction) if round_up else math.floor(fraction)
    return int(value)


def _roll(
    plan: DeploymentPlan,
    deployment: dict[str, Any],
    current: list[dict[str, Any]],
    old: list[dict[str, Any]],
    desired: int,
    current_hash: str,
    surge: int,
    unavailable: int,
) -> None:
    if len(current) > desired:
        plan.delete += [p["metadata"]["name"] for p in _least_useful_first(current)[: len(current) - desired]]
        current = [p for p in current if p["metadata"]["name"] not in plan.delete]
    room = desired + surge - len(current) - len(old)
    missing = desired - len(current)
    if not old:
        room = missing
    for _ in range(max(0, min(missing, room))):
        plan.create.append(_pod_for(deployment, current_hash))
    # Old pods go only while enough pods stay available: unready ones first, always.
    ready_total = sum(1 for p in current if pod_is_ready(p)) + sum(1 for p in old if pod_is_ready(p))
    may_lose = ready_total - (desired - unavailable)
    for pod in _least_useful_first(old):
        if not pod_is_ready(pod):
            plan.delete.append(pod["metadata"]["name"])
        elif may_lose > 0:
            plan.delete.append(pod["metadata"]["name"])
            may_lose -= 1


def _recreate(
    plan: DeploymentPlan,
    deployment: dict[str, Any],
    current: list[dict[str, Any]],
    old: list[dict[str, Any]],
    desired: int,
    current_hash: str,
) -> None:
    if old:
        plan.delete += [p["metadata"]["name"] for p in old]
        return
    if len(current) > desired:
        plan.delete += [p["metadata"]["name"] for p in _least_useful_first(current)[: len(current) - desired]]
    for _ in range(max(0, desired - len(current))):
        plan.create.append(_pod_for(deployment, current_hash))


def _least_useful_first(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unready pods, then the newest: the ones whose loss hurts least."""
    return sorted(pods, key=_usefulness)


def _usefulness(pod: dict[str, Any]) -> tuple[int, str]:
    # Lower sorts first: unready (0) before ready (1); among equals the newest (inverted timestamp).
    created = pod["metadata"].get("creationTimestamp", "")
    inverted = "".join(chr(0x7F - ord(c)) if c.isascii() else c for c in created)
    return (1 if pod_is_ready(pod) else 0, inverted)


def _hash_of(pod: dict[str, Any]) -> str:
    return str((pod["metadata"].get("labels") or {}).get(TEMPLATE_HASH_LABEL, ""))


def _pod_for(deployment: dict[str, Any], current_hash: str) -> dict[str, Any]:
    name = f"{deployment['metadata']['name']}-{current_hash}-{random_suffix()}"
    return owned_pod(deployment, "apps/v1", "Deployment", name, {TEMPLATE_HASH_LABEL: current_hash})


def _status(
    deployment: dict[str, Any],
    desired: int,
    live: list[dict[str, Any]],
    updated: list[dict[str, Any]],
    ready: int,
    unavailable: int,
    timestamp: str,
) -> dict[str, Any]:
    previous = {c.get("type"): c for c in (deployment.get("status") or {}).get("conditions") or []}
    available = ready >= desired - unavailable
    complete = len(updated) == desired == len(live) and ready >= desired
    conditions = [
        _condition(
            previous.get("Available"),
            "Available",
            available,
            "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            "Deployment has minimum availability."
            if available
            else "Deployment does not have minimum availability.",
            timestamp,
        ),
        _condition(
            previous.get("Progressing"),
            "Progressing",
            True,
            "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
            "the rollout is complete" if complete else "the rollout is progressing",
            timestamp,
        ),
    ]
    status: dict[str, Any] = {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": len(live),
        "updatedReplicas": len(updated),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": conditions,
    }
    if len(live) - ready > 0:
        status["unavailableReplicas"] = len(live) - ready
    return status


def _condition(
    previous: dict[str, Any] | None, kind: str, ok: bool, reason: str, message: str, timestamp: str
) -> dict[str, Any]:
    flag = "True" if ok else "False"
    changed = previous is None or previous.get("status") != flag
    transition = timestamp if changed or previous is None else previous.get("lastTransitionTime", timestamp)
    updated = (
        timestamp
        if previous is None or previous.get("reason") != reason
        else previous.get("lastUpdateTime", timestamp)
    )
    return {
        "type": kind,
        "status": flag,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "lastUpdateTime": updated,
    }
