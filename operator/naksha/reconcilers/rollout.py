"""Rollout reconciliation: stable and canary Deployments, canary steps, analysis, rollback.

Steps, in order: validate the spec; load the state kept in status; carry out user commands
(``naksha.io/abort``, ``naksha.io/promote``, ``naksha.io/retry`` annotations); follow the
template's revision (a new one starts a rollout, a known-bad one is not attempted again); walk
the canary steps as far as they go now (setWeight → wait for the canary pods, pause, analysis),
watching background analysis and the progress deadline; abort into a rollback when something
fails; finish an unfinished rollback (spec revert, GitOps commit); apply both Deployments; write
the status. The handler runs this on every change and on a short timer. A Rollout at its stable
revision is Healthy only while its stable pods are ready and none crash-loops (``rollout.health``);
the timer re-checks that even when nothing else is left to do.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from naksha import metrics
from naksha.controllers.rollout import rollback
from naksha.controllers.rollout.health import read_stable_health
from naksha.controllers.rollout.measurement import measure
from naksha.crashpoints import crash_point
from naksha.domain.rollout import controls
from naksha.domain.rollout.analysis import MetricProgress
from naksha.domain.rollout.health import Health
from naksha.domain.rollout.revisions import remember, revision_of, template_of
from naksha.domain.rollout.state import RolloutState
from naksha.kube import KubeError
from naksha.models import timestamps
from naksha.models.common import parse_duration
from naksha.models.conditions import ConditionType
from naksha.models.labels import REVISION_LABEL
from naksha.models.resources import DEPLOYMENTS, ROLLOUTS
from naksha.models.rollout import AnalysisMetric, RolloutSpec
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext
from naksha.workloads.naming import spec_hash
from naksha.workloads.rollout import Role, build_role_deployment, canary_split, deployment_name

logger = logging.getLogger(__name__)
HEALTHY, PROGRESSING, PAUSED, DEGRADED, ROLLED_BACK = (
    "Healthy",
    "Progressing",
    "Paused",
    "Degraded",
    "RolledBack",
)


def reconcile(context: ReconcileContext, now: float | None = None) -> ReconcileContext:
    return _reconcile(context, now, periodic=False)


def refresh(context: ReconcileContext, now: float | None = None) -> ReconcileContext:
    """The timer's pass: the same, except that a settled Rollout with nothing to do costs no write."""
    return _reconcile(context, now, periodic=True)


def _reconcile(context: ReconcileContext, now: float | None, *, periodic: bool) -> ReconcileContext:
    admission.validate_spec(context)
    if context.halted:
        return context
    admission.accept(context)
    spec = cast(RolloutSpec, context.spec)
    state = RolloutState.from_status(context.old_status)
    run = _Run(context, spec, state, time.time() if now is None else now, periodic=periodic)
    if periodic and run.settled() and run.health_phase() == context.old_status.get("phase"):
        context.extra_status.update(
            {k: v for k, v in context.old_status.items() if k not in ("phase", "conditions")}
        )
        return context
    run.commands()
    run.follow_revision()
    run.apply_workloads()  # the cluster is safe (canary down on a rollback) before anything else
    run.finish_rollback()
    run.publish()
    return context


class _Run:
    def __init__(
        self, context: ReconcileContext, spec: RolloutSpec, state: RolloutState, now: float, *, periodic: bool
    ) -> None:
        self.context = context
        self.periodic = periodic
        self.applied = ""
        self.spec = spec
        self.state = state
        self.now = now
        self.kube = context.api()
        self.revision = revision_of(spec.template)
        self.message = ""
        self.phase = HEALTHY
        self.consumed: list[str] = []
        self._health: Health | None = None

    def settled(self) -> bool:
        """Nothing to do: the template is the stable revision, no command, no unfinished rollback."""
        pending = self.state.rollback is not None and not (
            self.state.rollback.get("specReverted")
            and (
                self.spec.gitops is None
                or (self.state.rollback.get("gitops") or {}).get("commit") is not None
                or (self.state.rollback.get("gitops") or {}).get("created") is False
            )
        )
        commands = any(
            a in self.context.annotations for a in (controls.ABORT, controls.PROMOTE, controls.RETRY)
        )
        return (
            self.revision == self.state.stable_revision
            and self.revision == self.state.current_revision
            and not pending
            and not commands
        )

    def stable_health(self) -> Health:
        """The stable pods' health, read once per pass."""
        if self._health is None:
            self._health = read_stable_health(
                self.kube, self.context.namespace, deployment_name(self.context.name, "stable"), self.now
            )
        return self._health

    def health_phase(self) -> str:
        """The phase a settled Rollout without a pending rollback shows: Healthy only when its pods are."""
        if self.state.rollback is not None:
            return ROLLED_BACK
        health = self.stable_health()
        if health.healthy:
            return HEALTHY
        return DEGRADED if health.crash_looping else PROGRESSING

    # --- commands ------------------------------------------------------------------------------

    def commands(self) -> None:
        annotations = self.context.annotations
        if controls.RETRY in annotations:
            self.consumed.append(controls.RETRY)
            if self.revision in self.state.bad_revisions:
                self.state.bad_revisions.remove(self.revision)
                self.state.current_revision = None  # start it again from the first step
                self.context.event("Normal", "Retry", f"revision {self.revision} is tried again")
        if controls.PROMOTE in annotations:
            self.consumed.append(controls.PROMOTE)
            self.state.promote_requested = True

    # --- the revision and its steps --------------------------------------------------------------

    def follow_revision(self) -> None:
        state = self.state
        if state.stable_revision is None:  # first sight: what runs now is stable
            state.stable_revision = self.revision
            state.history = remember(
                state.history, self.revision, self.spec.template, self.spec.revision_history_limit
            )
        if self.revision == state.stable_revision:
            self._settle()
            return
        if self.revision in state.bad_revisions:
            self.phase = DEGRADED
            self.message = (
                f"revision {self.revision} was rolled back before; "
                f"change spec.template or annotate {controls.RETRY}"
            )
            state.canary_weight, state.step_index = 0, None
            return
        if state.current_revision != self.revision:  # a new revision, or a newer one mid-rollout
            state.current_revision = self.revision
            state.step_index, state.canary_weight = 0, 0
            state.started_at = state.step_started_at = self.now
            state.analysis = {}
            self.context.event("Normal", "RolloutStarted", f"rolling out revision {self.revision}")
        abort_reason = self.context.annotations.get(controls.ABORT)
        if abort_reason is not None:
            self.consumed.append(controls.ABORT)
            self._abort(abort_reason or "aborted by a user", "Aborted")
            return
        if self.spec.paused:
            self.phase, self.message = PAUSED, "paused by spec.paused"
            return
        if self._background_failed():
            return
        self._walk_steps()

    def _settle(self) -> None:
        """The template is the stable revision: everything on stable, nothing on canary."""
        state = self.state
        if self.context.annotations.get(controls.ABORT) is not None:
            self.consumed.append(controls.ABORT)  # nothing in progress to abort
        state.current_revision = self.revision
        state.step_index, state.canary_weight = None, 0
        state.analysis = {}
        if state.rollback is not None:
            self.phase = ROLLED_BACK
            self.message = (
                f"revision {state.rollback['badRevision']} was rolled back: {state.rollback['reason']}"
            )
            # Derived from the recorded rollback, not carried over: handlers may run on older bodies.
            why = str(state.rollback.get("why") or "RolledBack")
            self.context.set_condition(ConditionType.ROLLED_BACK, "True", why, self.message)
        else:
            self.phase = self.health_phase()
            health = self.stable_health()
            self.message = f"revision {self.revision} is stable" + (
                "" if health.healthy else f"; {health.message}"
            )

    def _walk_steps(self) -> None:
        steps = self.spec.strategy.canary.steps
        state = self.state
        while state.step_index is not None and state.step_index < len(steps):
            step = steps[state.step_index]
            if step.set_weight is not None:
                state.canary_weight = step.set_weight
                if not self._canary_available():
                    # The deadline covers waiting for pods only: pauses and analyses take the time they ask.
                    if (
                        self.now - float(state.step_started_at or self.now)
                        > self.spec.progress_deadline_seconds
                    ):
                        deadline = self.spec.progress_deadline_seconds
                        self._abort(
                            f"the canary pods were not available within {deadline}s",
                            "ProgressDeadlineExceeded",
                        )
                        return
                    self.phase = PROGRESSING
                    self.message = f"waiting for the canary pods at weight {step.set_weight}%"
                    return
            elif step.pause is not None:
                if not self._pause_over(step.pause.duration):
                    return
            elif step.analysis is not None:
                verdict = self._analyse(step.analysis.metrics, f"step{state.step_index}", background=False)
                if verdict != "Successful":
                    return
            state.step_index += 1
            state.step_started_at = self.now
            state.promote_requested = False
        self._promote()

    def _canary_available(self) -> bool:
        _, wanted = canary_split(self.spec.replicas, self.state.canary_weight)
        try:
            canary = self.kube.get(
                DEPLOYMENTS, self.context.namespace, deployment_name(self.context.name, "canary")
            )
        except KubeError:
            return False
        status = canary.get("status") or {}
        return bool(
            canary.get("spec", {}).get("replicas") == wanted
            and (canary.get("spec", {}).get("template", {}).get("metadata", {}).get("labels") or {}).get(
                REVISION_LABEL
            )
            == self.revision
            and int(status.get("availableReplicas") or 0) >= wanted
        )

    def _pause_over(self, duration: str | None) -> bool:
        if self.state.promote_requested:
            return True
        if duration is None:
            self.phase, self.message = (
                PAUSED,
                f"paused until promoted (annotate {controls.PROMOTE} or run naksha rollout promote)",
            )
            return False
        left = float(self.state.step_started_at or self.now) + parse_duration(duration) - self.now
        if left > 0:
            self.phase, self.message = PAUSED, f"paused for {left:.0f}s more"
            return False
        return True

    def _analyse(self, metrics_: list[AnalysisMetric], prefix: str, *, background: bool) -> str:
        """Measure what is due; the verdict over all metrics: Running, Successful or Failed."""
        verdicts = []
        for metric in metrics_:
            key = f"{prefix}/{metric.name}"
            progress = MetricProgress.from_status(self.state.analysis.get(key))
            started = float(self.state.step_started_at or self.now)
            due_from = started + (parse_duration(metric.initial_delay) if metric.initial_delay else 0.0)
            verdict = progress.decide(metric, background=background)
            if verdict == "Running" and self.now >= max(progress.next_at, due_from):
                measurement = measure(
                    self.kube,
                    self.context.namespace,
                    self.context.name,
                    metric,
                    f"{self.revision[:6]}-{prefix.replace('step', 's')[:10]}-{progress.taken}",
                    self.context.owner_reference(),
                )
                if measurement.phase != "Pending":
                    progress.record(measurement, self.now, parse_duration(metric.interval), _stamp)
                verdict = progress.decide(metric, background=background)
            self.state.analysis[key] = progress.as_status(verdict)
            if verdict in ("Failed", "Inconclusive"):
                last = progress.measurements[-1] if progress.measurements else {}
                evidence = ", ".join(
                    part for part in (last.get("message"), f"result {last.get('result')}") if part
                )
                self._abort(
                    f"analysis {metric.name} {verdict.lower()}: {progress.failed} failed, "
                    f"{progress.inconclusive} inconclusive of {progress.taken} ({evidence})",
                    "AnalysisFailed",
                )
                return "Failed"
            verdicts.append(verdict)
        if all(v == "Successful" for v in verdicts):
            return "Successful"
        self.phase, self.message = PROGRESSING, f"analysing ({', '.join(m.name for m in metrics_)})"
        return "Running"

    def _background_failed(self) -> bool:
        background = self.spec.strategy.canary.analysis
        if background is None or (self.state.step_index or 0) < background.starting_step:
            return False
        return self._analyse(background.metrics, "background", background=True) == "Failed"

    def _promote(self) -> None:
        state = self.state
        state.stable_revision = self.revision
        state.history = remember(
            state.history, self.revision, self.spec.template, self.spec.revision_history_limit
        )
        state.rollback = None
        self._settle()
        self.context.clear_condition(ConditionType.ROLLED_BACK)
        self.context.event("Normal", "Promoted", f"revision {self.revision} is now stable")
        metrics.ROLLOUT_PROMOTIONS.labels(self.context.namespace).inc()

    # --- rollback -------------------------------------------------------------------------------

    def _abort(self, reason: str, why: str) -> None:
        state = self.state
        rollback.record(state, reason, why, self.now)
        state.canary_weight, state.step_index = 0, None
        # Durable before the spec changes: a restart finds the rollback and completes it.
        self.kube.merge_patch(
            ROLLOUTS, self.context.namespace, self.context.name, {"status": state.as_status()}, status=True
        )
        self.phase, self.message = DEGRADED, f"rolled back revision {self.revision}: {reason}"
        self.context.set_condition(ConditionType.ROLLED_BACK, "True", why, self.message)
        self.context.event("Warning", "RolledBack", self.message)
        metrics.ROLLOUT_ROLLBACKS.labels(self.context.namespace, why).inc()

    def finish_rollback(self) -> None:
        current = self.state.rollback
        if current is None:
            return
        if not current.get("specReverted"):
            rollback.revert_spec(self.kube, self.context.namespace, self.context.name, self.state)
            if self.spec.gitops is not None:
                crash_point("rollout.before-gitops")
        recorded = (current.get("gitops") or {}).get("commit")
        error = rollback.commit_revert(
            self.kube, self.context.namespace, self.context.name, self.spec, self.state, self.now
        )
        if not recorded and (current.get("gitops") or {}).get("commit"):
            crash_point("rollout.after-gitops-push")
        if error:
            self.context.set_condition(ConditionType.DEGRADED, "True", "GitOpsRevertFailed", error)
            if self.context.condition_changed(ConditionType.DEGRADED):
                self.context.event("Warning", "GitOpsRevertFailed", error)
        else:
            self.context.clear_condition(ConditionType.DEGRADED)

    # --- workloads and status -------------------------------------------------------------------

    def apply_workloads(self) -> None:
        """Both Deployments as the state wants them; a timer pass skips it when nothing changed."""
        state, context = self.state, self.context
        stable_template = template_of(state.history, state.stable_revision) or dict(self.spec.template)
        stable_count, canary_count = canary_split(self.spec.replicas, state.canary_weight)
        in_progress = state.step_index is not None
        roles: tuple[tuple[Role, str, dict[str, Any], int], ...] = (
            ("stable", str(state.stable_revision), stable_template, stable_count),
            (
                "canary",
                self.revision if in_progress else str(state.stable_revision),
                dict(self.spec.template) if in_progress else stable_template,
                canary_count,
            ),
        )
        bodies = [
            build_role_deployment(
                rollout=context.name,
                namespace=context.namespace,
                role=role,
                revision=revision,
                template=template,
                selector=dict(self.spec.selector.match_labels),
                replicas=replicas,
            )
            for role, revision, template, replicas in roles
        ]
        self.applied = spec_hash({"deployments": bodies})
        if not (self.periodic and self.applied == context.old_status.get("appliedWorkloads")):
            for body in bodies:
                body["metadata"]["ownerReferences"] = [context.owner_reference()]
                self.kube.apply(body)
        if self.consumed:
            annotations: dict[str, Any] = dict.fromkeys(self.consumed)
            self.kube.merge_patch(
                ROLLOUTS, context.namespace, context.name, {"metadata": {"annotations": annotations}}
            )

    def publish(self) -> None:
        context, state = self.context, self.state
        status = state.as_status()
        stale = set(context.old_status.get("analysis") or {}) - set(state.analysis)
        status["analysis"] = {
            **dict.fromkeys(stale),
            **state.analysis,
        }  # a merge patch drops keys only as null
        status["message"] = self.message
        status["appliedWorkloads"] = self.applied
        context.extra_status.update(status)
        context.phase = self.phase
        context.set_condition(
            ConditionType.PROGRESSING,
            "True" if self.phase in (PROGRESSING, PAUSED) else "False",
            self.phase,
            self.message,
        )


def _stamp(at: float) -> str:
    return timestamps.to_text(at)
