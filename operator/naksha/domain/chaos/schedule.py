"""When a run starts: cron firings (with a time zone), concurrencyPolicy Forbid/Replace,
startingDeadlineSeconds, suspend, one-shot experiments and ``naksha chaos run`` commands."""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass
from typing import Literal

from naksha.models import timestamps
from naksha.models.conditions import Reason
from naksha.models.cron import parse_cron


@dataclass(frozen=True)
class ScheduleInput:
    now: float
    schedule: str | None
    time_zone: str | None
    suspend: bool
    concurrency_policy: Literal["Forbid", "Replace"]
    starting_deadline_seconds: int | None
    created_at: float
    last_schedule_time: float | None
    runs_so_far: int
    running: bool
    run_command: str | None = None  # a ``naksha chaos run`` request not yet handled


@dataclass(frozen=True)
class ScheduleDecision:
    action: Literal["none", "start", "skip", "replace"]
    reason: Reason | None = None
    message: str = ""
    scheduled_for: float | None = None  # the firing this decision consumes (lastScheduleTime)
    next_at: float | None = None  # the next firing, for ``status`` and the timer


def next_firing(schedule: str, after: float, time_zone: str | None = None) -> float:
    """The first firing strictly after ``after`` (epoch seconds), minutes counted in ``time_zone``."""
    zone = zoneinfo.ZoneInfo(time_zone) if time_zone else datetime.UTC
    local = datetime.datetime.fromtimestamp(after, tz=zone).replace(tzinfo=None)
    nxt = parse_cron(schedule).next_after(local)
    return nxt.replace(tzinfo=zone).timestamp()


def decide_start(given: ScheduleInput) -> ScheduleDecision:
    """Whether a run starts now, is skipped, or replaces the running one."""
    if given.run_command is not None:
        return _start_or_conflict(given, Reason.CHAOS_COMMAND, "started by naksha chaos run", None)
    if given.suspend:
        return ScheduleDecision("none", Reason.CHAOS_SUSPENDED, "spec.suspend is true")
    if given.schedule is None:
        if given.runs_so_far == 0 and not given.running:
            return ScheduleDecision("start", Reason.CHAOS_CREATED, "no schedule: the experiment runs once")
        return ScheduleDecision("none")
    base = given.last_schedule_time if given.last_schedule_time is not None else given.created_at
    due = next_firing(given.schedule, base, given.time_zone)
    if due > given.now:
        return ScheduleDecision("none", next_at=due)
    # Several firings may have passed while the operator was down: only the latest one counts.
    latest = due
    while (following := next_firing(given.schedule, latest, given.time_zone)) <= given.now:
        latest = following
    upcoming = next_firing(given.schedule, latest, given.time_zone)
    deadline = given.starting_deadline_seconds
    if deadline is not None and given.now - latest > deadline:
        late = given.now - latest
        return ScheduleDecision(
            "skip",
            Reason.CHAOS_MISSED_STARTING_DEADLINE,
            f"the firing at {_clock(latest)} is {late:.0f}s late, startingDeadlineSeconds is {deadline}",
            scheduled_for=latest,
            next_at=upcoming,
        )
    return _start_or_conflict(
        given, Reason.CHAOS_SCHEDULED, f"cron firing at {_clock(latest)}", latest, upcoming
    )


def _start_or_conflict(
    given: ScheduleInput,
    reason: Reason,
    message: str,
    scheduled_for: float | None,
    next_at: float | None = None,
) -> ScheduleDecision:
    if not given.running:
        return ScheduleDecision("start", reason, message, scheduled_for, next_at)
    if given.concurrency_policy == "Replace":
        return ScheduleDecision(
            "replace", reason, f"{message}; Replace aborts the running one", scheduled_for, next_at
        )
    return ScheduleDecision(
        "skip",
        Reason.CHAOS_CONCURRENCY_FORBIDDEN,
        f"{message} skipped: a run is in progress (Forbid)",
        scheduled_for,
        next_at,
    )


def _clock(moment: float) -> str:
    return timestamps.to_text(moment)


def idle_until(
    *,
    schedule: str | None,
    time_zone: str | None,
    suspend: bool,
    running: bool,
    runs_so_far: int,
    created_at: float,
    last_schedule_time: float | None,
) -> float | None:
    """When an experiment with no run in flight next needs a pass (None: now; inf: never by itself).

    The timer skips the passes before then, so idle experiments cost nothing; commands and spec
    changes arrive through their own handlers.
    """
    if running:
        return None
    if schedule is None:
        return None if runs_so_far == 0 else float("inf")
    if suspend:
        return float("inf")
    base = last_schedule_time if last_schedule_time is not None else created_at
    return next_firing(schedule, base, time_zone)
