"""Rollout handlers: reconcile on spec and annotation changes, and advance on a short timer.

kopf runs a timer beside the change handlers of the same object, so both take a per-Rollout
lock, and a pass decides from the Rollout as it stands: it reads it afresh unless the body kopf
hands over is the version this operator last wrote, and it writes its status itself before the
lock is released (``naksha.controllers.written_status``). A status left for kopf to apply after
the handler returns would let the pass that waited for the lock read the Rollout before that
write, and decide a step, an abort or a GitOps revert a second time from the old status.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import kopf

from naksha.controllers.written_status import WrittenVersions
from naksha.handlers.common import kopf_errors, write_result
from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import ROLLOUT
from naksha.models.resources import ROLLOUTS
from naksha.reconcilers import rollout
from naksha.reconcilers.context import ReconcileContext

TICK_SECONDS = 1.0
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_written = WrittenVersions(ROLLOUTS)


def _run(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    reconciler: Callable[[ReconcileContext], ReconcileContext],
    *,
    count: bool,
) -> None:
    uid = str(body["metadata"]["uid"])
    with _locks_guard:
        lock = _locks.setdefault(uid, threading.Lock())
    with lock:
        with kopf_errors():
            current: Any = _written.fresh(memo["kube"], body)
        if current is None:
            return
        context = ReconcileContext.from_body(ROLLOUT, current, kube=memo["kube"], settings=memo["config"])

        def write_now(context: ReconcileContext) -> None:
            _written.write(context.api(), uid, context.namespace, context.name, context.status_patch())

        write_result(current, patch, reconciler, context, count=count, write=write_now)


@kopf.on.resume(GROUP, VERSION, ROLLOUT.plural, id="reconcile")
@kopf.on.create(GROUP, VERSION, ROLLOUT.plural, id="reconcile")
@kopf.on.update(GROUP, VERSION, ROLLOUT.plural, id="reconcile", field="spec")
@kopf.on.update(GROUP, VERSION, ROLLOUT.plural, id="command", field="metadata.annotations")
def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    _run(body, patch, memo, rollout.reconcile, count=True)


@kopf.timer(GROUP, VERSION, ROLLOUT.plural, id="advance", interval=TICK_SECONDS)
def advance(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    _run(body, patch, memo, rollout.refresh, count=False)


@kopf.on.delete(GROUP, VERSION, ROLLOUT.plural, id="forget-lock", optional=True)
def forget_lock(body: kopf.Body, **_: Any) -> None:
    uid = str(body["metadata"]["uid"])
    with _locks_guard:
        _locks.pop(uid, None)
    _written.forget(uid)
