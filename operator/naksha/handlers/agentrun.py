"""AgentRun handler: a kopf daemon per run drives the engine (executor ``operator``) until it ends.

A daemon survives nothing by itself, which is the point: on an operator restart kopf starts it
again and the engine resumes from the checkpoint in the run's status. For executor ``job`` the
daemon starts the run's Job (its pod runs ``naksha agent-run``, the same engine) and watches it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
from pydantic import ValidationError

from naksha import metrics
from naksha.agent import executor
from naksha.agent.engine import POLL_SECONDS, TERMINAL, Engine
from naksha.handlers.common import write_result
from naksha.kube import Kube, NotFound
from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import AGENT_RUN
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext
from naksha.settings import OperatorSettings

logger = logging.getLogger(__name__)
JOB_POLL_SECONDS = 2.0


@kopf.on.create(GROUP, VERSION, AGENT_RUN.plural, id="admission")
@kopf.on.update(GROUP, VERSION, AGENT_RUN.plural, id="admission", field="spec")
def admit_invalid(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """Only an invalid spec is reported here; a valid run's status belongs to the engine."""
    context = ReconcileContext.from_body(AGENT_RUN, body)
    admission.validate_spec(context)
    if context.halted:
        write_result(body, patch, lambda c: c, context)


@kopf.daemon(GROUP, VERSION, AGENT_RUN.plural, id="engine", cancellation_timeout=5.0)
async def drive(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Steps run in worker threads; waiting (approval, waits, verification) holds no thread."""
    if (body.get("status") or {}).get("phase") in TERMINAL:
        return
    kube, settings = memo["kube"], memo["config"]
    try:
        engine = Engine(kube, dict(body), settings=settings)
    except ValidationError:
        return  # reported as InvalidSpec by the admission handler
    try:
        if engine.spec.executor == "job":
            phase = await _supervise_job(kube, dict(body), settings, stopped)
        else:
            phase = await _drive_engine(engine, stopped)
    except NotFound:
        return  # the run was deleted
    if phase in TERMINAL:
        metrics.AGENT_RUNS.labels(phase).inc()
        logger.info("AgentRun %s/%s ended %s", engine.namespace, engine.name, phase)


async def _drive_engine(engine: Engine, stopped: kopf.DaemonStopped) -> str:
    while engine.run.phase not in TERMINAL and not stopped:
        if not await asyncio.to_thread(engine.run_once):
            await asyncio.sleep(POLL_SECONDS)  # kopf cancels the task when the operator stops
    return engine.run.phase


async def _supervise_job(
    kube: Kube, body: dict[str, Any], settings: OperatorSettings, stopped: kopf.DaemonStopped
) -> str | None:
    job_name = await asyncio.to_thread(executor.ensure_job, kube, body, settings)
    while not stopped:
        phase = await asyncio.to_thread(executor.job_verdict, kube, body, job_name, settings)
        if phase is not None:
            return phase
        await asyncio.sleep(JOB_POLL_SECONDS)
    return None
