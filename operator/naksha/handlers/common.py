"""What every handler does after its reconciler ran: one status write, Events, metrics, retry."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import kopf

from naksha import metrics
from naksha.errors import RetryableError
from naksha.reconcilers.admission import PHASE_INVALID
from naksha.reconcilers.context import ReconcileContext


def write_result(
    body: kopf.Body,
    patch: kopf.Patch,
    reconciler: Callable[[ReconcileContext], ReconcileContext],
    context: ReconcileContext,
    *,
    count: bool = True,
) -> ReconcileContext:
    started = time.perf_counter()
    reconciler(context)
    new_status = context.status_patch()
    if differs(body.get("status") or {}, new_status):
        patch.status.update(new_status)
    for event in context.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    kind = context.kind.kind
    if count:
        result = (
            "invalid" if context.phase == PHASE_INVALID else "error" if context.retry_after else "accepted"
        )
        metrics.RECONCILE_TOTAL.labels(kind, context.namespace, result).inc()
        metrics.RECONCILE_SECONDS.labels(kind).observe(time.perf_counter() - started)
    metrics.PHASES.record(kind, context.namespace, context.name, context.phase or "Unknown")
    if context.retry_after is not None:
        raise RetryableError(
            f"{kind} {context.namespace}/{context.name} will be retried", delay=context.retry_after
        )
    return context


def differs(old: Any, new: dict[str, Any]) -> bool:
    """Whether writing ``new`` (a merge patch) would change ``old``; avoids no-op writes on timers."""
    return any(old.get(key) != value for key, value in new.items())
