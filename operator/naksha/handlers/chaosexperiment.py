"""ChaosExperiment handlers: reconcile on change, drive runs on a short timer, restore on delete.

The timer is the run's clock (schedule firings, the fault's duration, probes, the kill switch,
and ``naksha chaos run|abort`` annotations, which change no spec so no change handler sees them),
so it ticks twice a second, and a pass also runs at the very moment a fault is due to end
(``Deadlines``: its own thread and pool, so a due restore does not queue behind the ticks of
waiting runs); a pass reads the experiment afresh unless the body kopf hands over is
the version this operator last wrote, since that body can lag the status just written, and
deciding from a stale stage could inject twice. A per-experiment lock keeps change handlers and
the timer from overlapping.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from typing import Any

import kopf

from naksha.controllers.chaosexperiment.deadlines import Deadlines
from naksha.controllers.written_status import WrittenVersions
from naksha.domain.chaos import timer
from naksha.handlers.common import kopf_errors, write_result
from naksha.models.chaosexperiment import ChaosExperimentSpec
from naksha.models.common import parse_duration
from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import CHAOS_EXPERIMENT
from naksha.models.resources import CHAOS_EXPERIMENTS
from naksha.reconcilers import chaosexperiment
from naksha.reconcilers.context import ReconcileContext

TICK_SECONDS = 0.5
RESTORE_RETRY_SECONDS = 1.0
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_written = WrittenVersions(CHAOS_EXPERIMENTS)
_deadlines = Deadlines()


def _run(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, *, deleting: bool = False, count: bool = True
) -> ReconcileContext | None:
    uid = str(body["metadata"]["uid"])
    with _locks_guard:
        lock = _locks.setdefault(uid, threading.Lock())
    with lock:
        with kopf_errors():
            current: Any = _written.fresh(memo["kube"], body)
        if current is None:
            return None
        context = ReconcileContext.from_body(
            CHAOS_EXPERIMENT, current, kube=memo["kube"], settings=memo["config"]
        )
        created_at = timer.creation_time(current)

        def reconcile_pass(context: ReconcileContext) -> ReconcileContext:
            return chaosexperiment.reconcile(context, created_at=created_at, deleting=deleting)

        # The status is written in the pass, still under the lock, rather than by kopf after the
        # handler returns: the next pass (the timer, a change handler) must read this pass's stage.
        def write_now(context: ReconcileContext) -> None:
            _written.write(context.api(), uid, context.namespace, context.name, context.status_patch())

        write_result(current, patch, reconcile_pass, context, count=count and not deleting, write=write_now)
    _plan_fault_end(uid, body, patch, memo, context)
    return context


def _plan_fault_end(
    uid: str, body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, context: ReconcileContext
) -> None:
    """Have a pass run when the fault in place is due to end (in this thread's kopf context, for
    its Events)."""
    spec, run = context.spec, chaosexperiment.status_of(context).current_run
    end = None
    if isinstance(spec, ChaosExperimentSpec) and run is not None:
        end = timer.fault_end(run.stage, run.injected_at, parse_duration(spec.duration))
    if end is None:
        _deadlines.cancel(uid)
        return
    pass_now = functools.partial(_run, body, patch, memo, count=False)
    _deadlines.at(uid, end, functools.partial(contextvars.copy_context().run, pass_now))


@kopf.on.resume(GROUP, VERSION, CHAOS_EXPERIMENT.plural, id="reconcile")
@kopf.on.create(GROUP, VERSION, CHAOS_EXPERIMENT.plural, id="reconcile")
@kopf.on.update(GROUP, VERSION, CHAOS_EXPERIMENT.plural, id="reconcile", field="spec")
def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    _run(body, patch, memo)


@kopf.timer(GROUP, VERSION, CHAOS_EXPERIMENT.plural, id="tick", interval=TICK_SECONDS)
def tick(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    if timer.idle(body, time.time()):
        return  # no run in flight and no firing due: nothing for this tick to do
    _run(body, patch, memo, count=False)  # ticks are not reconciliations of a change


# Not optional: a fault in place must be restored before its experiment goes, so kopf holds the
# experiment (a finalizer) until this handler saw its run restored.
@kopf.on.delete(GROUP, VERSION, CHAOS_EXPERIMENT.plural, id="restore")
def restore(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    context = _run(body, patch, memo, deleting=True)
    in_flight = chaosexperiment.status_of(context).current_run if context is not None else None
    if in_flight is not None:
        raise kopf.TemporaryError(
            f"the run in flight is not restored yet ({in_flight.stage})",
            delay=RESTORE_RETRY_SECONDS,
        )
    with _locks_guard:
        _locks.pop(str(body["metadata"]["uid"]), None)
    _written.forget(str(body["metadata"]["uid"]))
    _deadlines.cancel(str(body["metadata"]["uid"]))
