"""Small facts about pods shared by the local kubelet's controllers: readiness, owners, names."""

from __future__ import annotations

import secrets
import string
from typing import Any

_ALPHABET = "bcdfghjklmnpqrstvwxz" + string.digits  # no vowels, like Kubernetes' generated names


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def pod_is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def controller_uid(obj: dict[str, Any]) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def controller_ref(obj: dict[str, Any]) -> dict[str, Any] | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None
