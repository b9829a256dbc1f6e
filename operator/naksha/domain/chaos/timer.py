"""Whether a timer tick over a ChaosExperiment has anything to do, from its body alone.

The timer ticks twice a second for every experiment; an idle one (no run in flight, no firing
due, no ``naksha chaos run|abort`` not yet taken) costs no pass and no request.
"""

from __future__ import annotations

import time
from typing import Any

from naksha.domain.chaos.run import from_iso
from naksha.domain.chaos.schedule import idle_until
from naksha.models.chaosexperiment import ABORT_ANNOTATION, RUN_ANNOTATION


def creation_time(body: Any) -> float:
    stamp = ((body.get("metadata") or {}).get("creationTimestamp")) or ""
    if not stamp:
        return time.time()
    return from_iso(str(stamp))


def idle(body: Any, now: float) -> bool:
    """Whether a timer pass over this body would find nothing to do (no run, no firing due).

    An invalid spec is idle too: the change handlers reported it, and only a new spec changes that.
    """
    spec, status = body.get("spec") or {}, body.get("status") or {}
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    handled = status.get("handledCommands") or {}
    for key, command in ((RUN_ANNOTATION, "run"), (ABORT_ANNOTATION, "abort")):
        if annotations.get(key) and annotations.get(key) != handled.get(command):
            return False  # a naksha chaos run/abort not taken yet
    last = status.get("lastScheduleTime")
    try:
        until = idle_until(
            schedule=spec.get("schedule"),
            time_zone=spec.get("timeZone"),
            suspend=bool(spec.get("suspend")),
            running=status.get("currentRun") is not None,
            runs_so_far=int(status.get("runs") or 0),
            created_at=creation_time(body),
            last_schedule_time=from_iso(last) if last else None,
        )
    except (TypeError, ValueError):
        return True
    return until is not None and until > now


def fault_end(stage: str, injected_at: str | None, duration: float) -> float | None:
    """When the fault in place is due to be restored (its injection plus ``duration``), or None
    when the run has no fault in place."""
    if stage != "Injected" or not injected_at:
        return None
    return from_iso(injected_at) + duration
