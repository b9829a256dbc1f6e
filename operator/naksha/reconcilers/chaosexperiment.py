"""ChaosExperiment reconciler: start runs on schedule or command, and drive the run in flight.

Each pass (a timer tick, a change, a command) runs ``STEPS``: admission, reading the status,
the schedule and commands, then up to a few transitions of the run's state machine (decided in
``naksha.domain.chaos.run``, done by ``naksha.controllers.chaosexperiment``), then publishing.
The status (``ChaosExperimentStatus``, the kind's status model) is written once at the end by
the handler, except the injection intent, which is checkpointed before the fault so that an
operator killed mid-fault restores after a restart. What a pass carries between its steps without
writing it (its clock, a stop asked for, a start decided) is its ``ChaosPass``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from naksha import metrics
from naksha.controllers.chaosexperiment import faults, observation, pod_faults, targets
from naksha.crashpoints import crash_point
from naksha.domain.chaos import journal
from naksha.domain.chaos.run import Decision, Observation, RunPlan, decide, from_iso, observe, to_iso
from naksha.domain.chaos.schedule import ScheduleDecision, ScheduleInput, decide_start
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
from naksha.models.status import NakshaStatus
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext, Step, run_steps

TRANSITIONS_PER_PASS = 6  # a pass may go Pending → Injected, or Restoring → Done, without waiting a tick
PHASE_IDLE, PHASE_RUNNING, PHASE_REFUSED = "Idle", "Running", "Refused"
Verdict = Literal["Passed", "Failed", "Aborted", "Skipped"]
CHAOS_ALLOWED = "ChaosAllowed"  # False while the target namespace is not opted in


@dataclass
class ChaosPass:
    """What one pass works with besides the status: its clock and the decisions of its steps."""

    created_at: float = 0.0
    deleting: bool = False
    now: float = 0.0
    stop_requested: str | None = None
    pending_start: ScheduleDecision | None = None
    started: bool = False

    @staticmethod
    def of(context: ReconcileContext) -> ChaosPass:
        assert isinstance(context.work, ChaosPass), "a ChaosExperiment pass starts in reconcile()"
        return context.work


def status_of(context: ReconcileContext) -> ChaosExperimentStatus:
    """The experiment's status being built (the kind's status model)."""
    assert isinstance(context.status, ChaosExperimentStatus)
    return context.status


def _spec(context: ReconcileContext) -> ChaosExperimentSpec:
    assert isinstance(context.spec, ChaosExperimentSpec)
    return context.spec


def note(
    context: ReconcileContext,
    activity: str,
    message: str,
    *,
    reason: Reason,
    ok: bool = True,
    at: float | None = None,
) -> None:
    """One journal entry and its Event: every transition is in both. The entry is stamped with the
    pass's time, or ``at`` for a transition seen before the pass that writes it down."""
    status = status_of(context)
    run = status.current_run.id if status.current_run else "-"
    moment = ChaosPass.of(context).now if at is None else at
    status.journal = journal.append(status.journal, run, activity, message, now=moment, ok=ok)
    context.event("Normal" if ok else "Warning", reason, f"[{run}] {message}")


def read_status(context: ReconcileContext) -> None:
    context.status = ChaosExperimentStatus.read(context.old_status)
    work = ChaosPass.of(context)
    work.now = work.now or time.time()


def take_commands(context: ReconcileContext) -> None:
    """``naksha chaos abort`` stops the run in flight; suspension and deletion stop it too."""
    work, status = ChaosPass.of(context), status_of(context)
    handled = status.handled_commands
    abort = context.annotations.get(ABORT_ANNOTATION)
    if abort and handled.get("abort") != abort:
        handled["abort"] = abort
        if status.current_run is not None:
            work.stop_requested = "aborted by naksha chaos abort"
    if _spec(context).suspend and status.current_run is not None:
        work.stop_requested = work.stop_requested or "the experiment was suspended"
    if work.deleting:
        work.stop_requested = "the experiment is being deleted"


def schedule(context: ReconcileContext) -> None:
    """Start a run when the cron fires or a command asks, under the concurrency policy."""
    work = ChaosPass.of(context)
    if work.deleting:
        return
    spec, status = _spec(context), status_of(context)
    command = context.annotations.get(RUN_ANNOTATION)
    fresh_command = command if command and status.handled_commands.get("run") != command else None
    last = status.last_schedule_time
    decision = decide_start(
        ScheduleInput(
            now=work.now,
            schedule=spec.schedule,
            time_zone=spec.time_zone,
            suspend=spec.suspend,
            concurrency_policy=spec.concurrency_policy,
            starting_deadline_seconds=spec.starting_deadline_seconds,
            created_at=work.created_at,
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
        assert decision.reason is not None
        note(context, "schedule", decision.message, ok=False, reason=decision.reason)
    elif decision.action == "replace":
        work.stop_requested = "replaced by a newer run (concurrencyPolicy Replace)"
        work.pending_start = decision
    elif decision.action == "start":
        work.pending_start = decision


def start_run(context: ReconcileContext) -> None:
    work, status = ChaosPass.of(context), status_of(context)
    decision = work.pending_start
    if decision is None or status.current_run is not None:
        return
    work.pending_start = None
    work.stop_requested = None  # it stopped the run this one replaces, not this one
    status.runs += 1
    started_by = {Reason.CHAOS_COMMAND: "command", Reason.CHAOS_CREATED: "creation"}.get(
        decision.reason or Reason.CHAOS_SCHEDULED, "schedule"
    )
    status.current_run = ChaosRun(id=f"run-{status.runs}", started_at=to_iso(work.now), started_by=started_by)
    note(context, "run-started", decision.message, reason=Reason.CHAOS_RUN_STARTED)
    work.started = True


def drive_started(context: ReconcileContext) -> None:
    """A run started in this pass goes as far as it can now (steady state, injection)."""
    if ChaosPass.of(context).started:
        drive(context)


def drive(context: ReconcileContext) -> None:
    """Take the run through as many transitions as are due now."""
    work, status, spec = ChaosPass.of(context), status_of(context), _spec(context)
    for _ in range(TRANSITIONS_PER_PASS):
        work.now = time.time()  # each transition at its own moment: the measured times need it
        run = status.current_run
        if run is None:
            return
        plan = RunPlan(
            duration=parse_duration(spec.duration),
            mttr_budget=parse_duration(spec.expected_remediation.mttr_budget),
            playbook=spec.expected_remediation.playbook,
        )
        seen = _observe(context, run)
        run = observe(run, seen)
        status.current_run = run
        decision = decide(run, plan, seen)
        if decision.action == "wait":
            return
        _ACTIONS[decision.action](context, run, decision)
        after = status.current_run
        if after is not None and after.stage == "Restoring":
            return  # the restore failed: the next tick tries again, not this one in a loop


def _observe(context: ReconcileContext, run: ChaosRun) -> Observation:
    work = ChaosPass.of(context)
    return observation.observe_run(
        context.api(),
        _spec(context),
        _target_namespace(context),
        run,
        now=work.now,
        stop_requested=work.stop_requested,
        control=context.settings.chaos_control,
        env_kill_switch=context.settings.kill_switch,
    )


def _inject(context: ReconcileContext, run: ChaosRun, decision: Decision) -> None:
    kube, spec, namespace = context.api(), _spec(context), _target_namespace(context)
    status = status_of(context)
    if run.stage == "Pending":
        found = targets.candidates(kube, namespace, spec.target, spec.fault)
        try:
            chosen = select_targets(list(found), spec.target.mode, spec.target.value, rng=random.Random())
        except SelectionError as error:
            _finish(context, run, "Skipped", Reason.CHAOS_NO_TARGET, str(error))
            return
        radius = BlastRadius(spec.blast_radius.max_targets, spec.blast_radius.max_percent)
        too_large = check_blast_radius(len(chosen), len(found), radius)
        if too_large is not None:
            _finish(context, run, "Skipped", Reason.CHAOS_BLAST_RADIUS_EXCEEDED, too_large)
            return
        context.set_condition(CHAOS_ALLOWED, "True", Reason.SPEC_VALID, "the namespace is opted in")
        context.phase = PHASE_RUNNING
        note(context, "steady-state-before", decision.message, reason=Reason.CHAOS_STEADY_STATE_BEFORE)
        workloads = sorted({targets.workload_of(found[name]) for name in chosen})
        run = run.model_copy(
            update={
                "stage": "Injecting",
                "targets": chosen,
                "restore": faults.intent(
                    spec.fault,
                    {n: found[n] for n in chosen},
                    pod_faults.Helpers(context.name, run.id, context.settings.image),
                ),
                "workloads": workloads,
            }
        )
        status.current_run = run
        # Why a checkpoint: the fault must never exist without its restore plan in status. A
        # kill after this write and before (or during) the fault makes the next operator inject
        # again idempotently and restore it; a kill before it leaves nothing injected.
        _publish_status(context)
        context.checkpoint()
        crash_point("chaos.before-inject")
    done = faults.inject(kube, namespace, spec.fault, run.restore)
    status.current_run = run.model_copy(
        update={"stage": "Injected", "injected_at": to_iso(ChaosPass.of(context).now)}
    )
    note(context, "inject", f"{spec.fault.type}: " + "; ".join(done), reason=Reason.CHAOS_INJECTED)


def _restore(context: ReconcileContext, run: ChaosRun, decision: Decision) -> None:
    kube, namespace, status = context.api(), _target_namespace(context), status_of(context)
    abort_reason = run.abort_reason or (decision.message if decision.reason == Reason.ABORTED else None)
    lines: list[str] = []
    try:
        for step in run.restore:
            wrote, line = faults.restore(kube, namespace, step)
            lines.append(line)
            if wrote and step.field in ("replicas", pod_faults.IMAGES, pod_faults.HELPER):
                # A conditional write: only the first restore makes it, so a restarted operator
                # (same environment) does not die here again.
                crash_point("chaos.after-restore")
    except (KubeError, RetryableError) as error:
        attempts = run.restore_attempts + 1
        status.current_run = run.model_copy(
            update={
                "stage": "Restoring",
                "restore_attempts": attempts,
                "restore_error": str(error),
                "abort_reason": abort_reason,
            }
        )
        message = f"restore attempt {attempts} failed: {error}; retrying"
        context.set_condition(ConditionType.DEGRADED, "True", Reason.CHAOS_RESTORE_FAILED, message)
        note(context, "restore", message, ok=False, reason=Reason.CHAOS_RESTORE_FAILED)
        return
    context.clear_condition(ConditionType.DEGRADED)
    status.current_run = run.model_copy(
        update={
            "stage": "Verifying",
            "restored_at": to_iso(time.time()),  # once the restore writes are done
            "restore_error": None,
            "abort_reason": abort_reason,
        }
    )
    why = f" ({decision.message})" if decision.message else ""
    note(context, "restore", "; ".join(lines) + why, ok=abort_reason is None, reason=Reason.CHAOS_RESTORED)


def _finish_decided(context: ReconcileContext, run: ChaosRun, decision: Decision) -> None:
    assert decision.reason is not None
    _finish(context, run, VERDICTS[decision.reason], decision.reason, decision.message)


def _skip(context: ReconcileContext, run: ChaosRun, decision: Decision) -> None:
    assert decision.reason is not None
    _finish(context, run, "Skipped", decision.reason, decision.message)


def _finish(
    context: ReconcileContext,
    run: ChaosRun,
    verdict: Verdict,
    reason: Reason,
    message: str,
) -> None:
    expectation = message.split(":", 1)[0] if verdict == "Failed" and ":" in message else None
    done = run.model_copy(
        update={
            "stage": "Done",
            "verdict": verdict,
            "reason": message,
            "failed_expectation": expectation,
            "finished_at": to_iso(ChaosPass.of(context).now),
        }
    )
    status = status_of(context)
    status.current_run = done
    if run.recovered_at:
        recovered = f"steady again {run.time_to_recover_seconds:.3f}s after the fault"
        # The journal says when the steady state came back, not when the verdict came (a run
        # waits after recovery for its remediation to settle and its recovery deadline to pass).
        note(context, "recover", recovered, reason=Reason.CHAOS_RECOVERED, at=from_iso(run.recovered_at))
    if run.agent_run:
        outcome = f"AgentRun {run.agent_run} ({run.agent_run_phase or 'unfinished'})"
        note(context, "remediation", outcome, reason=Reason.CHAOS_REMEDIATION)
    note(context, "verdict", f"{verdict}: {message}", ok=verdict == "Passed", reason=VERDICT_REASONS[verdict])
    if reason == Reason.REFUSED:
        context.set_condition(CHAOS_ALLOWED, "False", Reason.CHAOS_NOT_OPTED_IN, message)
        context.phase = PHASE_REFUSED
    status.history = journal.finish(status.history, done, _spec(context).history_limit)
    status.journal = journal.keep_journal_of(status.journal, [r.id for r in status.history])
    status.current_run = None
    metrics.CHAOS_RUNS.labels(verdict).inc()
    if done.time_to_recover_seconds is not None and verdict in ("Passed", "Failed"):
        metrics.CHAOS_RECOVERY_SECONDS.observe(done.time_to_recover_seconds)


# A verdict and the reason its Event carries (the same word).
VERDICT_REASONS: dict[Verdict, Reason] = {
    "Passed": Reason.CHAOS_PASSED,
    "Failed": Reason.FAILED,
    "Aborted": Reason.ABORTED,
    "Skipped": Reason.CHAOS_SKIPPED,
}
VERDICTS: dict[Reason, Verdict] = {reason: verdict for verdict, reason in VERDICT_REASONS.items()}
_ACTIONS: dict[str, Callable[[ReconcileContext, ChaosRun, Decision], None]] = {
    "inject": _inject,
    "restore": _restore,
    "finish": _finish_decided,
    "skip": _skip,
}


def publish(context: ReconcileContext) -> None:
    _publish_status(context)
    status = status_of(context)
    run = status.current_run
    if run is not None:
        context.phase = PHASE_RUNNING
        context.set_condition(
            ConditionType.PROGRESSING, "True", Reason.CHAOS_RUN_STARTED, f"{run.id}: {run.stage}"
        )
    else:
        if context.phase != PHASE_REFUSED:
            context.phase = PHASE_IDLE
        last = status.history[-1] if status.history else None
        message = f"{last.id}: {last.verdict}" if last else "no run yet"
        context.set_condition(ConditionType.PROGRESSING, "False", Reason.CHAOS_IDLE, message)


def _publish_status(context: ReconcileContext) -> None:
    """Every field of the experiment's own is written whole, also one changed in place (a
    handled command) or emptied (a finished run leaves currentRun as null: the merge patch
    removes it)."""
    status = status_of(context)
    for name in ChaosExperimentStatus.model_fields.keys() - NakshaStatus.model_fields.keys():
        setattr(status, name, getattr(status, name))  # an assignment marks the field for wire()


def _target_namespace(context: ReconcileContext) -> str:
    return _spec(context).target.namespace or context.namespace


STEPS: tuple[Step, ...] = (
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


def reconcile(
    context: ReconcileContext, *, created_at: float = 0.0, deleting: bool = False
) -> ReconcileContext:
    """Run the steps; ``created_at`` is the experiment's creation (a schedule's first base)."""
    context.work = ChaosPass(created_at=created_at, deleting=deleting)
    return run_steps(context, STEPS)
