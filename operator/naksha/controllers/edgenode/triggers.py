"""How many trigger requests wait for an EdgeNode: the requests are ConfigMaps labelled for the node."""

from __future__ import annotations

from naksha.domain.federation.requests import NODE_LABEL, PENDING, TRIGGER_LABEL
from naksha.kube import KubeApi
from naksha.models.resources import CONFIG_MAPS

CONFIGMAP = CONFIG_MAPS


def pending_triggers(kube: KubeApi, namespace: str, node: str) -> int:
    selector = f"{TRIGGER_LABEL}={PENDING},{NODE_LABEL}={node}"
    return len(kube.list(CONFIGMAP, namespace, label_selector=selector))
