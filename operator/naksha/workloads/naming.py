"""Names, labels, hashes and the container security context shared by every workload the operator creates."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

MANAGED_BY = "naksha"
_INVALID = re.compile(r"[^a-z0-9-]+")


def child_name(owner: str, suffix: str, *, limit: int = 63) -> str:
    """``<owner>-<suffix>`` as a DNS-1123 label; long owners are cut and made unique with a hash."""
    name = f"{owner}-{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(owner.encode()).hexdigest()[:8]
    room = limit - len(suffix) - len(digest) - 2
    trimmed = _INVALID.sub("-", owner[:room].lower()).strip("-")
    return f"{trimmed}-{digest}-{suffix}"


def spec_hash(spec: Mapping[str, Any]) -> str:
    """A short stable hash of a spec: put on pod templates so a spec change rolls the pods."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def common_labels(component: str, instance: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": f"naksha-{component}",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": "naksha",
    }


def restricted_security_context() -> dict[str, Any]:
    """The Pod Security Standards' "restricted" container settings every worker runs with."""
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


# Kafka workers checkpoint into the state ConfigMap and, when a checkpoint outgrows it, into this
# many spill ConfigMaps (naksha.services.insight.state_store); the workers' Role names them all.
INSIGHT_STATE_SPILL_MAPS = 32


def insight_state_names(stream: str) -> tuple[str, ...]:
    """A stream's state ConfigMap, then its spill ConfigMaps in the order they are filled."""
    numbers = range(1, INSIGHT_STATE_SPILL_MAPS + 1)
    spills = (child_name(stream, f"insight-state-{index}") for index in numbers)
    return (child_name(stream, "insight-state"), *spills)
