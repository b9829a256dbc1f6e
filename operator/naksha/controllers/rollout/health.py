"""Read a Rollout's stable Deployment and its pods, and judge their health.

The judgement is pure: ``naksha.domain.rollout.health``.
"""

from __future__ import annotations

from naksha.domain.rollout.health import Health, stable_health
from naksha.kube import Kube, KubeError
from naksha.models.resources import DEPLOYMENTS, PODS


def read_stable_health(kube: Kube, namespace: str, deployment_name: str, now: float) -> Health:
    try:
        deployment = kube.get(DEPLOYMENTS, namespace, deployment_name)
    except KubeError as error:
        if error.status != 404:
            raise
        return stable_health(None, [], now)
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    return stable_health(deployment, kube.list(PODS, namespace, label_selector=selector), now)
