"""Rollout handlers: reconcile on spec and annotation changes, and advance on a short timer.

kopf runs a timer beside the change handlers of the same object, so both take a per-Rollout
lock; the one that had to wait reads the Rollout again, since the other has just changed it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import kopf

from naksha.handlers.common import kopf_errors, write_result
from naksha.kube import NotFound
from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import ROLLOUT
from naksha.models.resources import ROLLOUTS
from naksha.reconcilers import rollout
from naksha.reconcilers.context import ReconcileContext

TICK_SECONDS = 1.0
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _run(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    reconciler: Callable[[ReconcileContext], ReconcileContext],
    *,
    count: bool,
) -> None:
    with _locks_guard:
        lock = _locks.setdefault(str(body["metadata"]["uid"]), threading.Lock())
    current: Any = body
    if not lock.acquire(blocking=False):
        lock.acquire()
        try:
            with kopf_errors():
                current = memo["kube"].get(ROLLOUTS, body["metadata"]["namespace"], body["metadata"]["name"])
        except NotFound:
            lock.release()
            return
        except BaseException:
            lock.release()
            raise
    try:
        context = ReconcileContext.from_body(ROLLOUT, current, kube=memo["kube"], settings=memo["config"])
        write_result(current, patch, reconciler, context, count=count)
    finally:
        lock.release()


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
    with _locks_guard:
        _locks.pop(str(body["metadata"]["uid"]), None)
