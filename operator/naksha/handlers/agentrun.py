"""AgentRun handler: each event either reports an invalid spec or makes sure the run is driven.

A raw event handler rather than create/update handlers: kopf then keeps no bookkeeping on runs
(no finalizer, no handled-state annotations), so the only writes to a run are the engine's own
checkpoints. The first event of each run (after an operator restart too: kopf lists the runs
again) starts its task in ``naksha.controllers.agentrun.runner``; the engine resumes from the run's status.
An AgentRun's spec is read once, when its run starts; edits to a running run are not applied.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from naksha import metrics
from naksha.controllers.agentrun.engine import TERMINAL
from naksha.controllers.agentrun.runner import AgentRunner
from naksha.handlers.common import differs, kopf_errors
from naksha.models.agentrun import AgentRunSpec
from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import AGENT_RUN
from naksha.models.resources import AGENT_RUNS
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext

logger = logging.getLogger(__name__)


def _runner(memo: kopf.Memo) -> AgentRunner:
    if "agent_runner" not in memo:
        memo["agent_runner"] = AgentRunner(memo["kube"], memo["config"])
    runner: AgentRunner = memo["agent_runner"]
    return runner


@kopf.on.event(GROUP, VERSION, AGENT_RUN.plural, id="agentrun")
async def on_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    metadata = body["metadata"]
    if event.get("type") == "DELETED":
        metrics.PHASES.forget(AGENT_RUN.kind, metadata["namespace"], metadata["name"])
        return  # its task, if any, stops at its next step (404)
    phase = (body.get("status") or {}).get("phase")
    metrics.PHASES.record(AGENT_RUN.kind, metadata["namespace"], metadata["name"], phase or "Pending")
    if phase in TERMINAL:
        return
    runner = _runner(memo)
    if runner.driving(metadata["uid"]):
        return
    context = ReconcileContext.from_body(AGENT_RUN, body)
    admission.validate_spec(context)
    if not context.halted:
        if runner.start(dict(body), context.spec if isinstance(context.spec, AgentRunSpec) else None):
            metrics.RECONCILE_TOTAL.labels(AGENT_RUN.kind, context.namespace, "accepted").inc()
        return
    status = context.status_patch()
    if differs(body.get("status") or {}, status):
        metrics.RECONCILE_TOTAL.labels(AGENT_RUN.kind, context.namespace, "invalid").inc()
        patch = {"status": status}
        kube = memo["kube"]
        with kopf_errors():
            await asyncio.to_thread(
                kube.merge_patch, AGENT_RUNS, context.namespace, context.name, patch, status=True
            )
        for notice in context.events:
            kopf.event(body, type=notice.type, reason=notice.reason, message=notice.message)


@kopf.on.cleanup()
async def stop_runs(memo: kopf.Memo, **_: Any) -> None:
    runner = memo.get("agent_runner")
    if runner is not None:
        await runner.stop()
