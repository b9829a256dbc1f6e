"""Status conditions: one vocabulary for every kind, and helpers that set them correctly.

A condition only changes ``lastTransitionTime`` when its status flips, as Kubernetes
conventions require, so ``kubectl wait`` and dashboards see real transitions only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from naksha.models import timestamps


class ConditionType(enum.StrEnum):
    """Condition types shared across kinds (kind-specific ones extend this list)."""

    READY = "Ready"
    ACCEPTED = "Accepted"
    INVALID_SPEC = "InvalidSpec"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"
    AWAITING_APPROVAL = "AwaitingApproval"


class Reason(enum.StrEnum):
    """Machine-readable reasons used in conditions and Events."""

    SPEC_VALID = "SpecValid"
    SPEC_INVALID = "SpecInvalid"
    AWAITING_CONTROLLER = "AwaitingController"

    # ChaosExperiment
    CHAOS_NOT_OPTED_IN = "NamespaceNotOptedIn"
    CHAOS_RUN_STARTED = "RunStarted"
    CHAOS_RUN_SKIPPED = "RunSkipped"
    CHAOS_INJECTED = "FaultInjected"
    CHAOS_RESTORED = "FaultRestored"
    CHAOS_RESTORE_FAILED = "RestoreFailed"
    CHAOS_VERDICT = "VerdictReached"
    CHAOS_IDLE = "Idle"


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(BaseModel):
    """One entry of ``status.conditions`` (the shape of metav1.Condition)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    type: str = Field(min_length=1)
    status: ConditionStatus
    reason: str = Field(default="", description="CamelCase machine-readable reason.")
    message: str = ""
    last_transition_time: str | None = Field(default=None, alias="lastTransitionTime")
    observed_generation: int | None = Field(default=None, alias="observedGeneration")


def utc_now() -> str:
    """Now, in the RFC 3339 form Kubernetes uses for timestamps."""
    return timestamps.now_text()


def find_condition(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    """The condition of that type, or None."""
    return next((c for c in conditions if c.get("type") == type_), None)


def set_condition(
    conditions: Iterable[Mapping[str, Any]],
    *,
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int | None,
    now: str | None = None,
) -> list[dict[str, Any]]:
    """A new condition list with that condition set; other conditions are kept in order."""
    result: list[dict[str, Any]] = []
    replaced = False
    for existing in conditions:
        if existing.get("type") != type_:
            result.append(dict(existing))
            continue
        transition = existing.get("lastTransitionTime") if existing.get("status") == status else None
        result.append(_condition(type_, status, reason, message, generation, transition or now or utc_now()))
        replaced = True
    if not replaced:
        result.append(_condition(type_, status, reason, message, generation, now or utc_now()))
    return result


def remove_condition(conditions: Iterable[Mapping[str, Any]], type_: str) -> list[dict[str, Any]]:
    """A new condition list without that condition type."""
    return [dict(c) for c in conditions if c.get("type") != type_]


def _condition(
    type_: str, status: str, reason: str, message: str, generation: int | None, transition: str
) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition
