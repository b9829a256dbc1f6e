"""An AgentRun's progress as the engine keeps it between checkpoints, and the times its outcome reports.

The engine keeps the run's typed status (``naksha.models.agentrun.AgentRunStatus``) and writes it
whole at each checkpoint; ``read_run`` turns what the API returned into it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from naksha.models import timestamps
from naksha.models.agentrun import AgentRunSpec, AgentRunStatus, RunOutcome, StepRecord
from naksha.models.common import parse_duration
from naksha.models.conditions import Condition, ConditionType, Reason, set_condition

KEPT_STEPS = 50
# The fields the engine owns: every checkpoint carries them whole (others: only once set).
ENGINE_FIELDS = (
    "phase",
    "current_node",
    "step_count",
    "state",
    "steps",
    "actions",
    "pending",
    "started_at",
    "message",
)


def now_text(clock: Callable[[], float] = time.time) -> str:
    return timestamps.to_text(clock())


def seconds_between(start: float | None, end: float | None) -> float | None:
    return round(end - start, 3) if start is not None and end is not None else None


def read_run(status: Mapping[str, Any] | None) -> AgentRunStatus:
    """The run's status as the engine resumes from it (a run never checkpointed is Pending)."""
    run = AgentRunStatus.read(status)
    run.phase = run.phase or "Pending"
    run.message = run.message or ""
    for name in ENGINE_FIELDS:  # written at every checkpoint, even while empty or cleared
        setattr(run, name, getattr(run, name))
    return run


def add_step(run: AgentRunStatus, record: StepRecord) -> None:
    """Count the step and keep its record (the last ``KEPT_STEPS`` of them)."""
    run.step_count += 1
    run.steps = [*run.steps, record][-KEPT_STEPS:]


@dataclass(frozen=True)
class Limit:
    """Why a run must end now: its time is up, or it took as many steps as its graph allows."""

    message: str
    reason: Reason | None


def limit_reached(
    run: AgentRunStatus, spec: AgentRunSpec, max_steps: int, node: str, now: float
) -> Limit | None:
    """The limit the run has reached at ``node``, or None (checked before every node)."""
    started = run.state.get("startedAt")
    if isinstance(started, (int, float)) and now - started > parse_duration(spec.timeouts.run):
        return Limit(
            f"the run exceeded spec.timeouts.run ({spec.timeouts.run}) at node {node}", Reason.RUN_TIMEOUT
        )
    if run.step_count >= max_steps:
        return Limit(f"the step limit of {max_steps} was reached at node {node}", None)
    return None


def outcome(
    run: AgentRunStatus, *, detected_at: str | None, playbook: str, first_playbook: str
) -> RunOutcome:
    """What a finished run reports for learning: resolved or not, its times, what it did."""
    state = run.state
    started = state.get("startedAt")
    acted, recovered = state.get("firstActionAt"), state.get("recoveredAt")
    detected = timestamps.to_seconds(detected_at) if detected_at else None
    return RunOutcome(
        resolved=run.phase == "Succeeded" and state.get("recovered") is not False,
        playbook=playbook,
        playbooks_tried=state.get("playbooksTried") or [first_playbook],
        actions=[f"{a.node}:{a.wpk}" for a in run.actions.values()],
        time_to_detect_seconds=seconds_between(detected, started),
        time_to_act_seconds=seconds_between(started, acted),
        time_to_recover_seconds=seconds_between(acted or started, recovered),
    )


# The conditions a run's phase shows; the others among them are removed when the phase moves on.
RUN_CONDITIONS = (
    ConditionType.ACCEPTED,
    ConditionType.AWAITING_APPROVAL,
    ConditionType.PROGRESSING,
    ConditionType.COMPLETED,
    ConditionType.REFUSED,
)


def set_run_conditions(run: AgentRunStatus, reason: Reason | None, generation: int | None, now: str) -> None:
    """The run's conditions for its phase, through ``set_condition``: a condition whose status did
    not flip keeps its ``lastTransitionTime`` however many checkpoints are written. ``reason``: why
    the run ended, or why it is still Pending (its Job has not started it)."""
    phase, message = run.phase or "Pending", run.message or ""
    wanted: list[tuple[ConditionType, Reason, str]] = [
        (ConditionType.ACCEPTED, Reason.SPEC_VALID, "The spec is valid.")
    ]
    if phase == "AwaitingApproval":
        wanted.append((ConditionType.AWAITING_APPROVAL, Reason.APPROVAL_REQUIRED, message))
    elif phase in ("Running", "Pending"):
        wanted.append((ConditionType.PROGRESSING, reason or Reason.RUNNING, message))
    else:
        wanted.append((ConditionType.COMPLETED, reason or Reason(phase), message))
        if phase == "Refused":
            wanted.append((ConditionType.REFUSED, reason or Reason.REFUSED, message))
    conditions: list[dict[str, Any]] = [
        c.model_dump(by_alias=True, exclude_none=True) for c in run.conditions
    ]
    kept = {type_ for type_, _, _ in wanted}
    conditions = [c for c in conditions if c.get("type") not in RUN_CONDITIONS or c.get("type") in kept]
    for type_, why, text in wanted:
        conditions = set_condition(
            conditions, type_=type_, status="True", reason=why, message=text, generation=generation, now=now
        )
    run.conditions = [Condition.model_validate(c) for c in conditions]
