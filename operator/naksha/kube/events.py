"""Core/v1 Events about Naksha's objects, built in one place so every component reports alike."""

from __future__ import annotations

from typing import Any

MAX_MESSAGE = 1024


def event_about(
    involved: dict[str, Any],
    *,
    reason: str,
    message: str,
    kind: str = "Normal",
    component: str,
    name: str | None = None,
) -> dict[str, Any]:
    """An Event about ``involved`` (apiVersion, kind, name, namespace[, uid]); a fixed name posts it once."""
    namespace = involved["namespace"]
    metadata: dict[str, Any] = {"namespace": namespace}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = f"{involved['name']}."
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata,
        "involvedObject": {k: v for k, v in involved.items() if v is not None},
        "type": kind,
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "source": {"component": component},
    }
