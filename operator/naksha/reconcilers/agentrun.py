"""AgentRun reconciliation: decide, for each event of a run, whether it is reported or driven.

Steps, in order: skip a run that has ended (its status is final); validate the spec (an invalid
one gets ``InvalidSpec`` and the status is written once, by the handler through the context).
A valid run that has not ended is handed to the engine (``naksha.controllers.agentrun.runner``), which writes
its own progress: an AgentRun's status is a series of checkpoints (the intent of each action is
durable before it is applied), written by the engine's recorder, not by this pass.
"""

from __future__ import annotations

from naksha.controllers.agentrun.engine import TERMINAL
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext, Step, run_steps


def skip_ended(context: ReconcileContext) -> None:
    """A run that ended keeps its final status: nothing to validate, write or drive."""
    if context.phase in TERMINAL:
        context.halt()


STEPS: tuple[Step, ...] = (skip_ended, admission.validate_spec)


def reconcile(context: ReconcileContext) -> ReconcileContext:
    return run_steps(context, STEPS)


def needs_engine(context: ReconcileContext) -> bool:
    """After ``reconcile``: whether the run is to be driven (valid and not ended)."""
    return not context.halted


def needs_write(context: ReconcileContext) -> bool:
    """After ``reconcile``: whether there is a verdict to write (an invalid spec)."""
    return context.halted and context.phase not in TERMINAL
