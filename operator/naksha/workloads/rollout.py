"""Builders of a Rollout's two Deployments: ``<name>-stable`` and ``<name>-canary``.

Both run the Rollout's pod template (the stable one the last promoted revision's, the canary
the revision being rolled out) with two extra labels, ``naksha.io/rollout-role`` and
``naksha.io/revision``, in their selectors, so each Deployment owns exactly its own pods while
a Service selecting the Rollout's own labels reaches both: the replica ratio is the weight.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from naksha.models.labels import REVISION_LABEL, ROLE_LABEL, ROLLOUT_LABEL
from naksha.workloads.naming import child_name

Role = Literal["stable", "canary"]


def deployment_name(rollout: str, role: Role) -> str:
    return child_name(rollout, role)


def build_role_deployment(
    *,
    rollout: str,
    namespace: str,
    role: Role,
    revision: str,
    template: dict[str, Any],
    selector: dict[str, str],
    replicas: int,
) -> dict[str, Any]:
    extra = {ROLE_LABEL: role, REVISION_LABEL: revision, ROLLOUT_LABEL: rollout}
    pod_template = copy.deepcopy(template)
    metadata = pod_template.setdefault("metadata", {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **extra}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name(rollout, role),
            "namespace": namespace,
            "labels": {**selector, **extra, "app.kubernetes.io/managed-by": "naksha"},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {**selector, ROLE_LABEL: role, ROLLOUT_LABEL: rollout}},
            "template": pod_template,
        },
    }


def canary_split(replicas: int, weight: int) -> tuple[int, int]:
    """(stable, canary) replicas for a weight in percent: the canary gets at least one pod once
    the weight is above zero, and all of them at 100."""
    if weight <= 0 or replicas == 0:
        return replicas, 0
    canary = min(replicas, max(1, -(-replicas * weight // 100)))
    return replicas - canary, canary
