"""AgentRun handler: a kopf daemon per run drives the engine (executor ``operator``) until it ends.

A daemon survives nothing by itself, which is the point: on an operator restart kopf starts it
again and the engine resumes from the checkpoint in the run's status. For executor ``job`` the
daemon starts the run's Job (its pod runs ``naksha agent-run``, the same engine) and watches it.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
from pydantic import ValidationError

from naksha import metrics
from naksha.agent import executor
from naksha.agent.engine import TERMINAL, Engine
from naksha.handlers.common import write_result
from naksha.kube import NotFound
from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import AGENT_RUN
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext

logger = logging.getLogger(__name__)


@kopf.on.create(GROUP, VERSION, AGENT_RUN.plural, id="admission")
@kopf.on.update(GROUP, VERSION, AGENT_RUN.plural, id="admission", field="spec")
def admit_invalid(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """Only an invalid spec is reported here; a valid run's status belongs to the engine."""
    context = ReconcileContext.from_body(AGENT_RUN, body)
    admission.validate_spec(context)
    if context.halted:
        write_result(body, patch, lambda c: c, context)


@kopf.daemon(GROUP, VERSION, AGENT_RUN.plural, id="engine", cancellation_timeout=5.0)
def drive(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    if (body.get("status") or {}).get("phase") in TERMINAL:
        return

    def pause(seconds: float) -> None:
        stopped.wait(seconds)  # wakes early when the operator stops or the run is deleted

    kube, settings = memo["kube"], memo["config"]
    try:
        engine = Engine(kube, dict(body), settings=settings, sleep=pause)
    except ValidationError:
        return  # reported as InvalidSpec by the admission handler
    if engine.spec.executor == "job":

        def fail(run: dict[str, Any], message: str) -> None:
            Engine(kube, run, settings=settings).fail(message)

        try:
            phase = executor.supervise(
                kube,
                dict(body),
                settings,
                terminal=TERMINAL,
                fail=fail,
                stopping=lambda: bool(stopped),
                sleep=pause,
            )
        except NotFound:
            return  # the run was deleted while its Job ran
    else:
        phase = engine.run_to_end(stopping=lambda: bool(stopped))
    if phase in TERMINAL:
        metrics.AGENT_RUNS.labels(phase).inc()
        logger.info("AgentRun %s/%s ended %s", engine.namespace, engine.name, phase)
