"""ModelVersion handlers: reconcile on change and on a timer (the training Job is polled); archive
each AgentRun's outcome as the run finishes."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from naksha.controllers.modelversion import archive
from naksha.domain.learning.outcomes import FINISHED_PHASES, record_from_agent_run
from naksha.handlers.common import write_result
from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import AGENT_RUN, MODEL_VERSION
from naksha.reconcilers import modelversion
from naksha.reconcilers.context import ReconcileContext

REFRESH_SECONDS = 3.0
logger = logging.getLogger(__name__)


@kopf.on.resume(GROUP, VERSION, MODEL_VERSION.plural, id="reconcile")
@kopf.on.create(GROUP, VERSION, MODEL_VERSION.plural, id="reconcile")
@kopf.on.update(GROUP, VERSION, MODEL_VERSION.plural, id="reconcile", field="spec")
def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    context = ReconcileContext.from_body(MODEL_VERSION, body, kube=memo["kube"], settings=memo["config"])
    write_result(body, patch, modelversion.reconcile, context)


@kopf.timer(GROUP, VERSION, MODEL_VERSION.plural, id="refresh", interval=REFRESH_SECONDS)
def refresh(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    context = ReconcileContext.from_body(MODEL_VERSION, body, kube=memo["kube"], settings=memo["config"])
    write_result(body, patch, modelversion.reconcile, context, count=False)


def _finished(body: kopf.Body, **_: Any) -> bool:
    return (body.get("status") or {}).get("phase") in FINISHED_PHASES


# An event handler stores nothing on the run (no progress annotations): the archive skips a run
# it holds already, so seeing a finished run again (an operator restart lists them all) is harmless.
@kopf.on.event(GROUP, VERSION, AGENT_RUN.plural, id="archive-outcome", when=_finished)
def archive_outcome(body: kopf.Body, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    record = record_from_agent_run(dict(body))
    if record is not None and namespace and archive.append(memo["kube"], namespace, record):
        logger.info("archived the outcome of AgentRun %s", record["run"])
