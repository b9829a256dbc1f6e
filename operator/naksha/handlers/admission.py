"""Admission handlers for every kind: validate the spec, report Accepted or InvalidSpec."""

from __future__ import annotations

import time
from typing import Any

import kopf

from naksha import metrics
from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import KINDS, KindInfo
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext

_KINDS_BY_PLURAL = {info.plural: info for info in KINDS}


def admit(body: kopf.Body, patch: kopf.Patch, resource: kopf.Resource, **_: Any) -> None:
    kind = _KINDS_BY_PLURAL[resource.plural]
    started = time.perf_counter()
    context = admission.reconcile(ReconcileContext.from_body(kind, body))
    patch.status.update(context.status_patch())
    for event in context.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    _observe(kind, context, time.perf_counter() - started)


def forget(body: kopf.Body, resource: kopf.Resource, **_: Any) -> None:
    kind = _KINDS_BY_PLURAL[resource.plural]
    metadata = body.get("metadata") or {}
    metrics.PHASES.forget(kind.kind, metadata.get("namespace", ""), metadata.get("name", ""))


def _observe(kind: KindInfo, context: ReconcileContext, seconds: float) -> None:
    result = "invalid" if context.phase == admission.PHASE_INVALID else "accepted"
    metrics.RECONCILE_TOTAL.labels(kind.kind, context.namespace, result).inc()
    metrics.RECONCILE_SECONDS.labels(kind.kind).observe(seconds)
    metrics.PHASES.record(kind.kind, context.namespace, context.name, context.phase or "Unknown")


def _register() -> None:
    for kind in KINDS:
        kopf.on.resume(GROUP, VERSION, kind.plural, id="admission")(admit)
        kopf.on.create(GROUP, VERSION, kind.plural, id="admission")(admit)
        kopf.on.update(GROUP, VERSION, kind.plural, id="admission", field="spec")(admit)
        # Optional: nothing outside the cluster depends on it yet, so no finalizer is needed.
        kopf.on.delete(GROUP, VERSION, kind.plural, id="forget", optional=True)(forget)


_register()
