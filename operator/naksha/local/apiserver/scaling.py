"""The ``scale`` subresource of Deployments, ReplicaSets and StatefulSets: an ``autoscaling/v1`` Scale."""

from __future__ import annotations

from typing import Any

from naksha.local.apiserver import errors, patching
from naksha.local.apiserver.objects import ObjectService
from naksha.local.apiserver.requests import Target


def scale(api: ObjectService, target: Target, content_type: str, patch: Any | None) -> dict[str, Any]:
    """The Scale of ``target``; with ``patch`` (a PUT or PATCH body), its replicas changed first."""
    resource, name = target.resource, target.name or ""
    if patch is not None:
        current = scale_of(api.get(resource, target.namespace, name))
        if content_type.startswith("application/json-patch+json"):
            wanted = patching.apply_json_patch(current, patch)
        else:
            wanted = patching.apply_merge_patch(current, patch)
        replicas = (wanted.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid(
                "Scale", "autoscaling", name, [f"spec.replicas: Invalid value: {replicas!r}"]
            )
        api.patch(
            resource,
            target.namespace,
            name,
            lambda obj: patching.apply_merge_patch(obj, {"spec": {"replicas": replicas}}),
        )
    return scale_of(api.get(resource, target.namespace, name))


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in selector.items()),
        },
    }
