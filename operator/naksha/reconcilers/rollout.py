"""Rollout reconciliation: stable and canary Deployments, canary steps, analysis, rollback.

``STEPS``, in order: validate and accept the spec; load the typed status (a timer pass on a
settled Rollout stops there, costing no write); carry out user commands (``naksha.io/retry``;
``naksha.io/promote`` is kept until a pass reaches a pause and ends it, so a promote given while
the canary pods still come up is not lost; ``naksha.io/abort`` is read where a rollout is in
progress); follow the
template's revision (a new one starts a rollout, a known-bad one is not attempted again) and walk
the canary steps as far as they go now (setWeight → wait for the canary pods, pause, analysis),
watching background analysis and the progress deadline, deciding an abort when something fails;
apply both Deployments (the cluster is safe — canary down on a rollback — before anything else);
finish an unfinished rollback (spec revert, GitOps commit); publish the status. The status is
written once, by the handler; the one earlier write is the recorded rollback
(``context.checkpoint()`` in ``_abort``), durable before the spec is reverted so that a restart
finds the rollback and completes it. Everything that reads or writes the cluster is in
``naksha.controllers.rollout``. A Rollout at its stable revision is Healthy only while its stable
pods are ready and none crash-loops; the timer re-checks that even when nothing else is left.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, cast

from naksha import metrics
from naksha.controllers.rollout import rollback
from naksha.controllers.rollout.health import read_stable_health
from naksha.controllers.rollout.measurement import measure
from naksha.controllers.rollout.workloads import apply_deployments, canary_ready, consume_commands
from naksha.crashpoints import crash_point
from naksha.domain.rollout import controls
from naksha.domain.rollout.analysis import decide, record_measurement
from naksha.domain.rollout.health import Health
from naksha.domain.rollout.revisions import remember, revision_of, template_of
from naksha.models import timestamps
from naksha.models.common import parse_duration
from naksha.models.conditions import ConditionType, Reason
from naksha.models.rollout import AnalysisMetric, MetricRecord, RolloutSpec, RolloutStatus
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext, Step, run_steps
from naksha.workloads.naming import spec_hash
from naksha.workloads.rollout import build_deployments, canary_split, deployment_name

logger = logging.getLogger(__name__)
# The phases, which the Progressing condition also gives as its reason.
HEALTHY, PROGRESSING, PAUSED = Reason.HEALTHY, Reason.PROGRESSING, Reason.PAUSED
DEGRADED, ROLLED_BACK = Reason.DEGRADED, Reason.ROLLED_BACK


@dataclass
class RolloutPass:
    """What one pass works with besides the status: its clock, the revision, its own decisions."""

    now: float
    periodic: bool
    revision: str = ""
    phase: Reason = HEALTHY
    message: str = ""
    consumed: list[str] = field(default_factory=list)  # command annotations carried out
    applied: str = ""  # hash of the Deployments as this pass wants them
    # A promote asked for and not yet spent on a pause (it ends the first pause this pass reaches).
    promote_requested: bool = False
    health: Health | None = None

    @staticmethod
    def of(context: ReconcileContext) -> RolloutPass:
        assert isinstance(context.work, RolloutPass), "a Rollout pass starts in reconcile() or refresh()"
        return context.work


def _spec(context: ReconcileContext) -> RolloutSpec:
    return cast(RolloutSpec, context.spec)


def _status(context: ReconcileContext) -> RolloutStatus:
    return cast(RolloutStatus, context.status)


# --- loading, and the timer's shortcut -------------------------------------------------------------


def load(context: ReconcileContext) -> None:
    """The status as the controller left it; a settled Rollout's timer pass ends here, unchanged."""
    run = RolloutPass.of(context)
    run.revision = revision_of(_spec(context).template)
    context.status = RolloutStatus.read(context.old_status)
    if run.periodic and settled(context) and health_phase(context) == context.old_status.get("phase"):
        context.halt()  # the status stays as it is: the handler sees nothing to write


def settled(context: ReconcileContext) -> bool:
    """Nothing to do: the template is the stable revision, no command, no unfinished rollback."""
    status, spec, revision = _status(context), _spec(context), RolloutPass.of(context).revision
    record = status.rollback
    gitops_done = (
        record is not None
        and record.gitops is not None
        and (record.gitops.commit is not None or record.gitops.created is False)
    )
    pending = record is not None and not (record.spec_reverted and (spec.gitops is None or gitops_done))
    commands = any(a in context.annotations for a in (controls.ABORT, controls.PROMOTE, controls.RETRY))
    return (
        revision == status.stable_revision
        and revision == status.current_revision
        and not pending
        and not commands
    )


def stable_health(context: ReconcileContext) -> Health:
    """The stable pods' health, read once per pass."""
    run = RolloutPass.of(context)
    if run.health is None:
        stable = deployment_name(context.name, "stable")
        run.health = read_stable_health(context.api(), context.namespace, stable, run.now)
    return run.health


def health_phase(context: ReconcileContext) -> Reason:
    """The phase a settled Rollout without a pending rollback shows: Healthy only when its pods are."""
    if _status(context).rollback is not None:
        return ROLLED_BACK
    health = stable_health(context)
    if health.healthy:
        return HEALTHY
    return DEGRADED if health.crash_looping else PROGRESSING


# --- commands ------------------------------------------------------------------------------------


def take_commands(context: ReconcileContext) -> None:
    run, status, annotations = RolloutPass.of(context), _status(context), context.annotations
    if controls.RETRY in annotations:
        run.consumed.append(controls.RETRY)
        if run.revision in status.bad_revisions:
            status.bad_revisions = [r for r in status.bad_revisions if r != run.revision]
            status.current_revision = None  # start it again from the first step
            context.event("Normal", Reason.RETRY, f"revision {run.revision} is tried again")
    if controls.PROMOTE in annotations:
        # Not consumed here: only the pass that ends a pause with it (or finds nothing in progress
        # to promote) removes it. A pass still waiting for canary pods keeps it for the pause.
        run.promote_requested = True


def _spend_promote(run: RolloutPass) -> None:
    """The promote did what it was asked for (or has nothing to do): removed with this pass's write."""
    run.promote_requested = False
    if controls.PROMOTE not in run.consumed:
        run.consumed.append(controls.PROMOTE)


# --- the revision and its steps --------------------------------------------------------------------


def follow_revision(context: ReconcileContext) -> None:
    run, status, spec = RolloutPass.of(context), _status(context), _spec(context)
    if status.stable_revision is None:  # first sight: what runs now is stable
        status.stable_revision = run.revision
        status.revisions = remember(
            status.revisions, run.revision, spec.template, spec.revision_history_limit
        )
    if run.revision == status.stable_revision:
        _settle(context)
        return
    if run.revision in status.bad_revisions:
        run.phase = DEGRADED
        run.message = (
            f"revision {run.revision} was rolled back before; "
            f"change spec.template or annotate {controls.RETRY}"
        )
        status.canary_weight, status.current_step_index = 0, None
        if run.promote_requested:
            _spend_promote(run)  # nothing in progress to promote
        return
    if status.current_revision != run.revision:  # a new revision, or a newer one mid-rollout
        status.current_revision = run.revision
        status.current_step_index, status.canary_weight = 0, 0
        status.started_at = status.step_started_at = run.now
        status.analysis = {}
        context.event("Normal", Reason.ROLLOUT_STARTED, f"rolling out revision {run.revision}")
    abort_reason = context.annotations.get(controls.ABORT)
    if abort_reason is not None:
        run.consumed.append(controls.ABORT)
        _abort(context, abort_reason or "aborted by a user", Reason.ABORTED)
        return
    if spec.paused:
        run.phase, run.message = PAUSED, "paused by spec.paused"
        return
    if _background_failed(context):
        return
    _walk_steps(context)


def _settle(context: ReconcileContext) -> None:
    """The template is the stable revision: everything on stable, nothing on canary."""
    run, status = RolloutPass.of(context), _status(context)
    if context.annotations.get(controls.ABORT) is not None:
        run.consumed.append(controls.ABORT)  # nothing in progress to abort
    if controls.PROMOTE in context.annotations:
        _spend_promote(run)  # nothing in progress to promote (or promoted by this pass)
    status.current_revision = run.revision
    status.current_step_index, status.canary_weight = None, 0
    status.analysis = {}
    if status.rollback is not None:
        run.phase = ROLLED_BACK
        run.message = f"revision {status.rollback.bad_revision} was rolled back: {status.rollback.reason}"
        # Derived from the recorded rollback, not carried over: handlers may run on older bodies.
        context.set_condition(ConditionType.ROLLED_BACK, "True", Reason(status.rollback.why), run.message)
    else:
        run.phase = health_phase(context)
        health = stable_health(context)
        run.message = f"revision {run.revision} is stable" + ("" if health.healthy else f"; {health.message}")


def _walk_steps(context: ReconcileContext) -> None:
    run, status, spec = RolloutPass.of(context), _status(context), _spec(context)
    steps = spec.strategy.canary.steps
    while status.current_step_index is not None and status.current_step_index < len(steps):
        step = steps[status.current_step_index]
        if step.set_weight is not None:
            status.canary_weight = step.set_weight
            _, wanted = canary_split(spec.replicas, step.set_weight)
            if not canary_ready(context.api(), context.namespace, context.name, run.revision, wanted):
                # The deadline covers waiting for pods only: pauses and analyses take the time they ask.
                if run.now - float(status.step_started_at or run.now) > spec.progress_deadline_seconds:
                    deadline = spec.progress_deadline_seconds
                    _abort(
                        context,
                        f"the canary pods were not available within {deadline}s",
                        Reason.PROGRESS_DEADLINE_EXCEEDED,
                    )
                    return
                run.phase = PROGRESSING
                run.message = f"waiting for the canary pods at weight {step.set_weight}%"
                return
        elif step.pause is not None:
            if not _pause_over(context, step.pause.duration):
                return
        elif step.analysis is not None:
            prefix = f"step{status.current_step_index}"
            if _analyse(context, step.analysis.metrics, prefix, background=False) != "Successful":
                return
        status.current_step_index += 1
        status.step_started_at = run.now
    _promote(context)


def _pause_over(context: ReconcileContext, duration: str | None) -> bool:
    run, status = RolloutPass.of(context), _status(context)
    if run.promote_requested:
        _spend_promote(run)
        return True
    if duration is None:
        run.phase = PAUSED
        run.message = f"paused until promoted (annotate {controls.PROMOTE} or run naksha rollout promote)"
        return False
    left = float(status.step_started_at or run.now) + parse_duration(duration) - run.now
    if left > 0:
        run.phase, run.message = PAUSED, f"paused for {left:.0f}s more"
        return False
    return True


def _analyse(
    context: ReconcileContext, metrics_: list[AnalysisMetric], prefix: str, *, background: bool
) -> str:
    """Measure what is due; the verdict over all metrics: Running, Successful or Failed."""
    run, status = RolloutPass.of(context), _status(context)
    verdicts = []
    for metric in metrics_:
        key = f"{prefix}/{metric.name}"
        progress = status.analysis.get(key) or MetricRecord()
        started = float(status.step_started_at or run.now)
        due_from = started + (parse_duration(metric.initial_delay) if metric.initial_delay else 0.0)
        verdict = decide(progress, metric, background=background)
        if verdict == "Running" and run.now >= max(progress.next_at, due_from):
            measurement = measure(
                context.api(),
                context.namespace,
                context.name,
                metric,
                f"{run.revision[:6]}-{prefix.replace('step', 's')[:10]}-{progress.taken}",
                context.owner_reference(),
            )
            if measurement.phase != "Pending":
                record_measurement(progress, measurement, run.now, parse_duration(metric.interval), _stamp)
            verdict = decide(progress, metric, background=background)
        progress.phase = verdict
        status.analysis[key] = progress
        if verdict in ("Failed", "Inconclusive"):
            last = progress.measurements[-1] if progress.measurements else None
            evidence = ", ".join(
                part for part in (last and last.message, f"result {last.result if last else None}") if part
            )
            _abort(
                context,
                f"analysis {metric.name} {verdict.lower()}: {progress.failed} failed, "
                f"{progress.inconclusive} inconclusive of {progress.taken} ({evidence})",
                Reason.ANALYSIS_FAILED,
            )
            return "Failed"
        verdicts.append(verdict)
    if all(v == "Successful" for v in verdicts):
        return "Successful"
    run.phase, run.message = PROGRESSING, f"analysing ({', '.join(m.name for m in metrics_)})"
    return "Running"


def _background_failed(context: ReconcileContext) -> bool:
    background = _spec(context).strategy.canary.analysis
    if background is None or (_status(context).current_step_index or 0) < background.starting_step:
        return False
    return _analyse(context, background.metrics, "background", background=True) == "Failed"


def _promote(context: ReconcileContext) -> None:
    run, status, spec = RolloutPass.of(context), _status(context), _spec(context)
    status.stable_revision = run.revision
    status.revisions = remember(status.revisions, run.revision, spec.template, spec.revision_history_limit)
    status.rollback = None
    _settle(context)
    context.clear_condition(ConditionType.ROLLED_BACK)
    context.event("Normal", Reason.PROMOTED, f"revision {run.revision} is now stable")
    metrics.ROLLOUT_PROMOTIONS.labels(context.namespace).inc()


# --- rollback ------------------------------------------------------------------------------------


def _abort(context: ReconcileContext, reason: str, why: Reason) -> None:
    run, status = RolloutPass.of(context), _status(context)
    rollback.record(status, reason, why, run.now)
    status.canary_weight, status.current_step_index = 0, None
    run.phase, run.message = DEGRADED, f"rolled back revision {run.revision}: {reason}"
    context.set_condition(ConditionType.ROLLED_BACK, "True", why, run.message)
    # Durable before the spec changes: a restart finds the rollback and completes it.
    context.checkpoint()
    context.event("Warning", Reason.ROLLED_BACK, run.message)
    metrics.ROLLOUT_ROLLBACKS.labels(context.namespace, why).inc()


def finish_rollback(context: ReconcileContext) -> None:
    status, spec = _status(context), _spec(context)
    current = status.rollback
    if current is None:
        return
    kube = context.api()
    if not current.spec_reverted:
        rollback.revert_spec(kube, context.namespace, context.name, status)
        if spec.gitops is not None:
            crash_point("rollout.before-gitops")
    recorded = current.gitops is not None and current.gitops.commit is not None
    error = rollback.commit_revert(
        kube, context.namespace, context.name, spec, status, RolloutPass.of(context).now
    )
    if not recorded and current.gitops is not None and current.gitops.commit:
        crash_point("rollout.after-gitops-push")
    if error:
        context.set_condition(ConditionType.DEGRADED, "True", Reason.GITOPS_REVERT_FAILED, error)
        if context.condition_changed(ConditionType.DEGRADED):
            context.event("Warning", Reason.GITOPS_REVERT_FAILED, error)
    else:
        context.clear_condition(ConditionType.DEGRADED)


# --- workloads and status ------------------------------------------------------------------------


def deployments(context: ReconcileContext) -> list[dict[str, Any]]:
    """Both Deployments as the status wants them (built, not applied)."""
    run, status, spec = RolloutPass.of(context), _status(context), _spec(context)
    return build_deployments(
        rollout=context.name,
        namespace=context.namespace,
        template=dict(spec.template),
        selector=dict(spec.selector.match_labels),
        replicas=spec.replicas,
        stable_revision=str(status.stable_revision),
        stable_template=template_of(status.revisions, status.stable_revision) or dict(spec.template),
        revision=run.revision,
        weight=status.canary_weight,
        in_progress=status.current_step_index is not None,
    )


def apply_workloads(context: ReconcileContext) -> None:
    """Both Deployments as decided; a timer pass skips the apply when nothing changed."""
    run = RolloutPass.of(context)
    bodies = deployments(context)
    run.applied = spec_hash({"deployments": bodies})
    if not (run.periodic and run.applied == context.old_status.get("appliedWorkloads")):
        apply_deployments(context.api(), bodies, context.owner_reference())
    consume_commands(
        context.api(),
        context.namespace,
        context.name,
        run.consumed,
        # A promote is removed only from the Rollout as this pass read it: a pass that worked on
        # an older copy (the timer's body, from before another pass's writes) fails here instead
        # of ending a second pause, or a pause the promote was not given for.
        guarded_by=context.resource_version if controls.PROMOTE in run.consumed else None,
    )


def publish(context: ReconcileContext) -> None:
    run, status = RolloutPass.of(context), _status(context)
    stale = set(context.old_status.get("analysis") or {}) - set(status.analysis)
    status.analysis = {**dict.fromkeys(stale), **status.analysis}  # a merge patch drops keys only as null
    status.message = run.message
    status.applied_workloads = run.applied
    context.phase = run.phase
    context.set_condition(
        ConditionType.PROGRESSING,
        "True" if run.phase in (PROGRESSING, PAUSED) else "False",
        run.phase,
        run.message,
    )


STEPS: tuple[Step, ...] = (
    admission.validate_spec,
    admission.accept,
    load,
    take_commands,
    follow_revision,
    apply_workloads,  # the cluster is safe (canary down on a rollback) before anything else
    finish_rollback,
    publish,
)


def reconcile(context: ReconcileContext, now: float | None = None) -> ReconcileContext:
    context.work = RolloutPass(now=time.time() if now is None else now, periodic=False)
    return run_steps(context, STEPS)


def refresh(context: ReconcileContext, now: float | None = None) -> ReconcileContext:
    """The timer's pass: the same, except that a settled Rollout with nothing to do costs no write."""
    context.work = RolloutPass(now=time.time() if now is None else now, periodic=True)
    return run_steps(context, STEPS)


def _stamp(at: float) -> str:
    return timestamps.to_text(at)
