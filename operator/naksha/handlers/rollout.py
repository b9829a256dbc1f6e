"""Rollout handlers: reconcile on spec and annotation changes, and advance on a short timer."""

from __future__ import annotations

from typing import Any

import kopf

from naksha.handlers.common import write_result
from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import ROLLOUT
from naksha.reconcilers import rollout
from naksha.reconcilers.context import ReconcileContext

TICK_SECONDS = 1.0


@kopf.on.resume(GROUP, VERSION, ROLLOUT.plural, id="reconcile")
@kopf.on.create(GROUP, VERSION, ROLLOUT.plural, id="reconcile")
@kopf.on.update(GROUP, VERSION, ROLLOUT.plural, id="reconcile", field="spec")
@kopf.on.update(GROUP, VERSION, ROLLOUT.plural, id="command", field="metadata.annotations")
def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    context = ReconcileContext.from_body(ROLLOUT, body, kube=memo["kube"], settings=memo["config"])
    write_result(body, patch, rollout.reconcile, context)


@kopf.timer(GROUP, VERSION, ROLLOUT.plural, id="advance", interval=TICK_SECONDS)
def advance(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    context = ReconcileContext.from_body(ROLLOUT, body, kube=memo["kube"], settings=memo["config"])
    write_result(body, patch, rollout.refresh, context, count=False)
