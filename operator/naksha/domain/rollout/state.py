"""What a Rollout's controller keeps in its status between reconciliations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RolloutState:
    stable_revision: str | None = None
    current_revision: str | None = None
    step_index: int | None = None
    canary_weight: int = 0
    started_at: float | None = None  # when the current revision's rollout began
    step_started_at: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    bad_revisions: list[str] = field(default_factory=list)
    analysis: dict[str, dict[str, Any]] = field(default_factory=dict)
    rollback: dict[str, Any] | None = None  # the last rollback: revisions, reason, gitops outcome
    promote_requested: bool = False

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> RolloutState:
        return cls(
            stable_revision=status.get("stableRevision"),
            current_revision=status.get("currentRevision"),
            step_index=status.get("currentStepIndex"),
            canary_weight=int(status.get("canaryWeight") or 0),
            started_at=status.get("startedAt"),
            step_started_at=status.get("stepStartedAt"),
            history=list(status.get("revisions") or []),
            bad_revisions=list(status.get("badRevisions") or []),
            analysis=dict(status.get("analysis") or {}),
            rollback=dict(status["rollback"]) if status.get("rollback") else None,
        )

    def as_status(self) -> dict[str, Any]:
        return {
            "stableRevision": self.stable_revision,
            "currentRevision": self.current_revision,
            "currentStepIndex": self.step_index,
            "canaryWeight": self.canary_weight,
            "startedAt": self.started_at,
            "stepStartedAt": self.step_started_at,
            "revisions": self.history,
            "badRevisions": self.bad_revisions[-20:],
            "analysis": self.analysis,
            "rollback": self.rollback,
        }
