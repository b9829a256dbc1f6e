"""An AgentRun's progress as the engine keeps it between checkpoints, and the times its outcome reports."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from naksha.models import timestamps

KEPT_STEPS = 50


def now_text(clock: Callable[[], float] = time.time) -> str:
    return timestamps.to_text(clock())


def seconds_between(start: float | None, end: float | None) -> float | None:
    return round(end - start, 3) if start is not None and end is not None else None


@dataclass
class RunState:
    """The run as the engine keeps it between checkpoints (a copy of the status it writes)."""

    phase: str = "Pending"
    current: str | None = None
    step: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # waiting nodes' plans and deadlines
    started_at: str | None = None
    message: str = ""

    @classmethod
    def from_status(cls, status: dict[str, Any]) -> RunState:
        return cls(
            phase=status.get("phase") or "Pending",
            current=status.get("currentNode"),
            step=int(status.get("stepCount") or 0),
            state=dict(status.get("state") or {}),
            steps=list(status.get("steps") or []),
            actions=dict(status.get("actions") or {}),
            pending=dict(status.get("pending") or {}),
            started_at=status.get("startedAt"),
            message=status.get("message") or "",
        )

    def as_status(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "currentNode": self.current,
            "stepCount": self.step,
            "state": self.state,
            "steps": self.steps[-KEPT_STEPS:],
            "actions": self.actions,
            "pending": self.pending,
            "startedAt": self.started_at,
            "message": self.message,
        }


def outcome(run: RunState, *, detected_at: str | None, playbook: str, first_playbook: str) -> dict[str, Any]:
    """What a finished run reports for learning: resolved or not, its times, what it did."""
    state = run.state
    started = state.get("startedAt")
    acted, recovered = state.get("firstActionAt"), state.get("recoveredAt")
    detected = timestamps.to_seconds(detected_at) if detected_at else None
    return {
        "resolved": run.phase == "Succeeded" and state.get("recovered") is not False,
        "playbook": playbook,
        "playbooksTried": state.get("playbooksTried") or [first_playbook],
        "actions": [f"{a['node']}:{a['wpk']}" for a in run.actions.values()],
        "timeToDetectSeconds": seconds_between(detected, started),
        "timeToActSeconds": seconds_between(started, acted),
        "timeToRecoverSeconds": seconds_between(acted or started, recovered),
    }
