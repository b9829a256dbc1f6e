"""Admission handlers for the kinds whose own controller has not landed yet.

They validate the spec with its model and report ``Accepted`` or ``InvalidSpec``. A kind that
gains a controller of its own leaves ``ADMISSION_ONLY``; its reconciler starts with the same
admission steps.
"""

from __future__ import annotations

from typing import Any

import kopf

from naksha import metrics
from naksha.handlers.common import write_result
from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import (
    AGENT_RUN,
    CHAOS_EXPERIMENT,
    EDGE_NODE,
    INSIGHT_STREAM,
    KINDS,
    MODEL_VERSION,
    ROLLOUT,
)
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext

ADMISSION_ONLY = tuple(
    kind
    for kind in KINDS
    if kind not in (INSIGHT_STREAM, AGENT_RUN, ROLLOUT, MODEL_VERSION, EDGE_NODE, CHAOS_EXPERIMENT)
)
_KINDS_BY_PLURAL = {info.plural: info for info in KINDS}


def admit(body: kopf.Body, patch: kopf.Patch, resource: kopf.Resource, **_: Any) -> None:
    context = ReconcileContext.from_body(_KINDS_BY_PLURAL[resource.plural], body)
    write_result(body, patch, admission.reconcile, context)


def forget(body: kopf.Body, resource: kopf.Resource, **_: Any) -> None:
    kind = _KINDS_BY_PLURAL[resource.plural]
    metadata = body.get("metadata") or {}
    metrics.PHASES.forget(kind.kind, metadata.get("namespace", ""), metadata.get("name", ""))


def _register() -> None:
    for kind in ADMISSION_ONLY:
        kopf.on.resume(GROUP, VERSION, kind.plural, id="admission")(admit)
        kopf.on.create(GROUP, VERSION, kind.plural, id="admission")(admit)
        kopf.on.update(GROUP, VERSION, kind.plural, id="admission", field="spec")(admit)
    for kind in (k for k in KINDS if k is not AGENT_RUN):  # AgentRuns: see handlers.agentrun
        # Optional: nothing outside the cluster depends on it, so no finalizer is needed.
        kopf.on.delete(GROUP, VERSION, kind.plural, id="forget", optional=True)(forget)


_register()
