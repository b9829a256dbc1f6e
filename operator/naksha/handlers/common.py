"""What every handler shares: Naksha's errors in kopf's words, and the write after a reconcile.

``kopf_errors`` is the one place where Naksha's error tree meets kopf's: the code below the
handlers raises ``RetryableError`` or ``PermanentError`` (``naksha.errors``, no kopf), and the
handler turns them into ``kopf.TemporaryError`` (retried after the error's delay) or
``kopf.PermanentError``. ``write_result`` runs a reconciler, writes status once, posts Events
and counts metrics.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import kopf

from naksha import metrics
from naksha.errors import PermanentError, RetryableError
from naksha.reconcilers.admission import PHASE_INVALID
from naksha.reconcilers.context import ReconcileContext


@contextlib.contextmanager
def kopf_errors() -> Iterator[None]:
    """Turn Naksha's retry policy into kopf's: a retryable error retries after its delay."""
    try:
        yield
    except RetryableError as error:
        raise kopf.TemporaryError(str(error), delay=error.delay) from error
    except PermanentError as error:
        raise kopf.PermanentError(str(error)) from error


def write_result(
    body: kopf.Body,
    patch: kopf.Patch,
    reconciler: Callable[[ReconcileContext], ReconcileContext],
    context: ReconcileContext,
    *,
    count: bool = True,
) -> ReconcileContext:
    started = time.perf_counter()
    with kopf_errors():
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
        raise kopf.TemporaryError(
            f"{kind} {context.namespace}/{context.name} will be retried", delay=context.retry_after
        )
    return context


def differs(old: Any, new: dict[str, Any]) -> bool:
    """Whether writing ``new`` (a merge patch) would change ``old``; avoids no-op writes on timers."""
    return any(old.get(key) != value for key, value in new.items())
