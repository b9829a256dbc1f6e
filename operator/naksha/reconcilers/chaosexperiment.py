"""ChaosExperiment reconciler: start runs on schedule or command, and drive the run in flight.

Each pass (a timer tick, a change, a command) runs ``STEPS``: admission, reading the status,
the schedule and commands, then up to a few transitions of the run's state machine (decided in
``naksha.domain.chaos.run``, done by ``naksha.controllers.chaosexperiment``), then publishing.
The status is written once at the end by the handler, except the injection intent, which is
checkpointed before the fault so that an operator killed mid-fault restores after a restart.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from naksha import metrics
from naksha.controllers.chaosexperiment import faults, observation, targets
from naksha.crashpoints import crash_point
from naksha.domain.chaos import journal
from naksha.domain.chaos.run import Decision, Observation, RunPlan, decide, from_iso, observe, to_iso
from naksha.domain.chaos.schedule import ScheduleDecision, ScheduleInput, decide_start, idle_until
from naksha.domain.chaos.selection import BlastRadius, SelectionError, check_blast_radius, select_targets
from naksha.errors import RetryableError
from naksha.kube import KubeError
from naksha.models.chaosexperiment import (
    ABORT_ANNOTATION,
    RUN_ANNOTATION,
    ChaosExperimentSpec,
    ChaosExperimentStatus,
    ChaosRun,
)
from naksha.models.common import parse_duration
from naksha.models.conditions import ConditionType, Reason
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext

TRANSITIONS_PER_PASS = 6  # a pass may go Pending → Injected, or Restoring → Done, without waiting a tick
PHASE_IDLE, PHASE_RUNNING, PHASE_REFUSED = "Idle", "Running", "Refused"
Verdict = Literal["Passed", "Failed", "Aborted", "Skipped"]
CHAOS_ALLOWED = "ChaosAllowed"  # False while the target namespace is not opted in


@dataclass
class ChaosContext(ReconcileContext):
    """The reconciliation of one experiment: the context plus the run's typed status."""

    created_at: float = 0.0
    now: float = 0.0
    deleting: bool = False
    status: ChaosExperimentStatus = field(default_factory=ChaosExperimentStatus)
    stop_requested: str | None = None
    pending_start: ScheduleDecision | None = None
    started: bool = False

    @property
    def chaos(self) -> ChaosExperimentSpec:
        assert isinstance(self.spec, ChaosExperimentSpec)
        return self.spec

    def note(self, activity: str, message: str, *, ok: bool = True, reason: str = "") -> None:
        """One journal entry and its Event: every transition is in both."""
        run = self.status.current_run.id if self.status.current_run else "-"
        self.status.journal = journal.append(self.status.journal, run, activity, message, now=self.now, ok=ok)
        self.event("Normal" if ok else "Warning", reason or activity_reason(activity), f"[{run}] {message}")


def activity_reason(activity: str) -> str:
    return "".join(part.capitalize() for part in activity.split("-"))


def read_status(context: ChaosContext) -> None:
    context.status = ChaosExperimentStatus.model_validate(dict(context.old_status))
    context.now = context.now or time.time()


def take_commands(context: ChaosContext) -> None:
    """``naksha chaos abort`` stops the run in flight; suspension and deletion stop it too."""
    handled = context.status.handled_commands
    abort = context.annotations.get(ABORT_ANNOTATION)
    if abort and handled.get("abort") != abort:
        handled["abort"] = abort
        if context.status.current_run is not None:
            context.stop_requested = "aborted by naksha chaos abort"
    if context.chaos.suspend and context.status.current_run is not None:
        context.stop_requested = context.stop_requested or "the experiment was suspended"
    if context.deleting:
        context.stop_requested = "the experiment is being deleted"


def schedule(context: ChaosContext) -> None:
    """Start a run when the cron fires or a command asks, under the concurrency policy."""
    if context.deleting:
        return
    spec, status = context.chaos, context.status
    command = context.annotations.get(RUN_ANNOTATION)
    fresh_command = command if command and status.handled_commands.get("run") != command else None
    last = status.last_schedule_time
    decision = decide_start(
        ScheduleInput(
            now=context.now,
            schedule=spec.schedule,
            time_zone=spec.time_zone,
            suspend=spec.suspend,
            concurrency_policy=spec.concurrency_policy,
            starting_deadline_seconds=spec.starting_deadline_seconds,
            created_at=context.created_at,
            last_schedule_time=from_iso(last) if last else None,
            runs_so_far=status.runs,
            running=status.current_run is not None,
            run_command=fresh_command,
        )
    )
    if fresh_command is not None:
        status.handled_commands["run"] = fresh_command
    if decision.scheduled_for is not None:
        status.last_schedule_time = to_iso(decision.scheduled_for)
    if decision.action == "skip":
        context.note("schedule", decision.message, ok=False, reason=decision.reason)
    elif decision.action == "replace":
        context.stop_requested = "replaced by a newer run (concurrencyPolicy Replace)"
        context.pending_start = decision
    elif decision.action == "start":
        context.pending_start = decision


def start_run(context: ChaosContext) -> None:
    decision = context.pending_start
    if decision is None or context.status.current_run is not None:
        return
    context.pending_start = None
    context.stop_requested = None  # it stopped the run this one replaces, not this one
    status = context.status
    status.runs += 1
    started_by = {"Command": "command", "Created": "creation"}.get(decision.reason, "schedule")
    status.current_run = ChaosRun(
        id=f"run-{status.runs}", started_at=to_iso(context.now), started_by=started_by
    )
    context.note("run-started", decision.message, reason=Reason.CHAOS_RUN_STARTED)
    context.started = True


def drive_started(context: ChaosContext) -> None:
    """A run started in this pass goes as far as it can now (steady state, injection)."""
    if context.started:
        drive(context)


def drive(context: ChaosContext) -> None:
    """Take the run through as many transitions as are due now."""
    for _ in range(TRANSITIONS_PER_PASS):
        context.now = time.time()  # each transition at its own moment: the measured times need it
        run = context.status.current_run
        if run is None:
            return
        plan = RunPlan(
            duration=parse_duration(context.chaos.duration),
            mttr_budget=parse_duration(context.chaos.expected_remediation.mttr_budget),
            playbook=context.chaos.expected_remediation.playbook,
        )
        seen = _observe(context, run)
        run = observe(run, seen)
        context.status.current_run = run
        decision = decide(run, plan, seen)
        if decision.action == "wait":
            return
        _ACTIONS[decision.action](context, run, decision)
        after = context.status.current_run
        if after is not None and after.stage == "Restoring":
            return  # the restore failed: the next tick tries again, not this one in a loop


def _observe(context: ChaosContext, run: ChaosRun) -> Observation:
    return observation.observe_run(
        context.api(),
        context.chaos,
        _target_namespace(context),
        run,
        now=context.now,
        stop_requested=context.stop_requested,
        control=context.settings.chaos_control,
        env_kill_switch=context.settings.kill_switch,
    )


def _inject(context: ChaosContext, run: ChaosRun, decision: Decision) -> None:
    kube, spec, namespace = context.api(), context.chaos, _target_namespace(context)
    if run.stage == "Pending":
        found = targets.candidates(kube, namespace, spec.target)
        try:
            chosen = select_targets(list(found), spec.target.mode, spec.target.value, rng=random.Random())
        except SelectionError as error:
            _finish(context, run, "Skipped", "NoTarget", str(error))
            return
        radius = BlastRadius(spec.blast_radius.max_targets, spec.blast_radius.max_percent)
        too_large = check_blast_radius(len(chosen), len(found), radius)
        if too_large is not None:
            _finish(context, run, "Skipped", "BlastRadiusExceeded", too_large)
            return
        context.set_condition(CHAOS_ALLOWED, "True", Reason.SPEC_VALID, "the namespace is opted in")
        context.phase = PHASE_RUNNING
        context.note("steady-state-before", decision.message)
        workloads = sorted({targets.workload_of(found[name]) for name in chosen})
        run = run.model_copy(
            update={
                "stage": "Injecting",
                "targets": chosen,
                "restore": faults.intent(spec.fault, {n: found[n] for n in chosen}),
                "workloads": workloads,
            }
        )
        context.status.current_run = run
        # Why a checkpoint: the fault must never exist without its restore plan in status. A
        # kill after this write and before (or during) the fault makes the next operator inject
        # again idempotently and restore it; a kill before it leaves nothing injected.
        _publish_status(context)
        context.checkpoint()
        crash_point("chaos.before-inject")
    done = faults.inject(kube, namespace, spec.fault, run.restore)
    context.status.current_run = run.model_copy(
        update={"stage": "Injected", "injected_at": to_iso(context.now)}
    )
    context.note("inject", f"{spec.fault.type}: " + "; ".join(done), reason=Reason.CHAOS_INJECTED)


def _restore(context: ChaosContext, run: ChaosRun, decision: Decision) -> None:
    kube, namespace = context.api(), _target_namespace(context)
    abort_reason = run.abort_reason or (decision.message if decision.reason == "Aborted" else None)
    lines: list[str] = []
    try:
        for step in run.restore:
            wrote, line = faults.restore(kube, namespace, step)
            lines.append(line)
            if wrote and step.field == "replicas":
                # A conditional write: only the first restore makes it, so a restarted operator
                # (same environment) does not die here again.
                crash_point("chaos.after-restore")
    except (KubeError, RetryableError) as error:
        attempts = run.restore_attempts + 1
        context.status.current_run = run.model_copy(
            update={
                "stage": "Restoring",
                "restore_attempts": attempts,
                "restore_error": str(error),
                "abort_reason": abort_reason,
            }
        )
        message = f"restore attempt {attempts} failed: {error}; retrying"
        context.set_condition(ConditionType.DEGRADED, "True", Reason.CHAOS_RESTORE_FAILED, message)
        context.note("restore", message, ok=False, reason=Reason.CHAOS_RESTORE_FAILED)
        return
    context.clear_condition(ConditionType.DEGRADED)
    context.status.current_run = run.model_copy(
        update={
            "stage": "Verifying",
            "restored_at": to_iso(context.now),
            "restore_error": None,
            "abort_reason": abort_reason,
        }
    )
    why = f" ({decision.message})" if decision.message else ""
    context.note("restore", "; ".join(lines) + why, ok=abort_reason is None, reason=Reason.CHAOS_RESTORED)


def _finish_decided(context: ChaosContext, run: ChaosRun, decision: Decision) -> None:
    verdict = cast(Verdict, decision.reason)
    _finish(context, run, verdict, decision.reason, decision.message)


def _skip(context: ChaosContext, run: ChaosRun, decision: Decision) -> None:
    _finish(context, run, "Skipped", decision.reason, decision.message)


def _finish(
    context: ChaosContext,
    run: ChaosRun,
    verdict: Verdict,
    reason: str,
    message: str,
) -> None:
    expectation = message.split(":", 1)[0] if verdict == "Failed" and ":" in message else None
    done = run.model_copy(
        update={
            "stage": "Done",
            "verdict": verdict,
            "reason": message,
            "failed_expectation": expectation,
            "finished_at": to_iso(context.now),
        }
    )
    context.status.current_run = done
    if run.recovered_at:
        context.note("recover", f"steady again {run.time_to_recover_seconds:.3f}s after the fault")
    if run.agent_run:
        context.note("remediation", f"AgentRun {run.agent_run} ({run.agent_run_phase or 'unfinished'})")
    context.note("verdict", f"{verdict}: {message}", ok=verdict in ("Passed",), reason=verdict)
    if reason == "Refused":
        context.set_condition(CHAOS_ALLOWED, "False", Reason.CHAOS_NOT_OPTED_IN, message)
        context.phase = PHASE_REFUSED
    status = context.status
    status.history = journal.finish(status.history, done, context.chaos.history_limit)
    status.journal = journal.keep_journal_of(status.journal, [r.id for r in status.history])
    status.current_run = None
    metrics.CHAOS_RUNS.labels(verdict).inc()
    if done.time_to_recover_seconds is not None and verdict in ("Passed", "Failed"):
        metrics.CHAOS_RECOVERY_SECONDS.observe(done.time_to_recover_seconds)


_ACTIONS = {"inject": _inject, "restore": _restore, "finish": _finish_decided, "skip": _skip}


def publish(context: ChaosContext) -> None:
    _publish_status(context)
    run = context.status.current_run
    if run is not None:
        context.phase = PHASE_RUNNING
        context.set_condition(
            ConditionType.PROGRESSING, "True", Reason.CHAOS_RUN_STARTED, f"{run.id}: {run.stage}"
        )
    else:
        if context.phase != PHASE_REFUSED:
            context.phase = PHASE_IDLE
        last = context.status.history[-1] if context.status.history else None
        message = f"{last.id}: {last.verdict}" if last else "no run yet"
        context.set_condition(ConditionType.PROGRESSING, "False", Reason.CHAOS_IDLE, message)


def _publish_status(context: ChaosContext) -> None:
    wire = context.status.model_dump(by_alias=True, exclude={"phase", "observed_generation", "conditions"})
    # A finished run leaves currentRun as null: the merge patch removes it.
    context.extra_status.update(wire)


def _target_namespace(context: ChaosContext) -> str:
    return context.chaos.target.namespace or context.namespace


STEPS: tuple[Callable[[ChaosContext], None], ...] = (
    admission.validate_spec,
    admission.accept,
    read_status,
    take_commands,
    schedule,
    drive,
    start_run,
    drive_started,
    publish,
)


def reconcile(context: ReconcileContext) -> ReconcileContext:
    """Run the steps (the handler builds a ChaosContext; the signature is every reconciler's)."""
    assert isinstance(context, ChaosContext)
    for step in STEPS:
        if context.halted:
            break
        step(context)
    return context


def creation_time(body: Any) -> float:
    stamp = ((body.get("metadata") or {}).get("creationTimestamp")) or ""
    if not stamp:
        return time.time()
    return from_iso(str(stamp))


def idle(body: Any, now: float) -> bool:
    """Whether a timer pass over this body would find nothing to do (no run, no firing due).

    An invalid spec is idle too: the change handlers reported it, and only a new spec changes that.
    """
    spec, status = body.get("spec") or {}, body.get("status") or {}
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    handled = status.get("handledCommands") or {}
    for key, command in ((RUN_ANNOTATION, "run"), (ABORT_ANNOTATION, "abort")):
        if annotations.get(key) and annotations.get(key) != handled.get(command):
            return False  # a naksha chaos run/abort not taken yet
    last = status.get("lastScheduleTime")
    try:
        until = idle_until(
            schedule=spec.get("schedule"),
            time_zone=spec.get("timeZone"),
            suspend=bool(spec.get("suspend")),
            running=status.get("currentRun") is not None,
            runs_so_far=int(status.get("runs") or 0),
            created_at=creation_time(body),
            last_schedule_time=from_iso(last) if last else None,
        )
    except (TypeError, ValueError):
        return True
    return until is not None and until > now
