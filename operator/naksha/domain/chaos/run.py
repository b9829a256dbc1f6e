"""The run's state machine as pure decisions: steady state before → inject → watch → restore →
steady state after → verdict.

``observe`` folds what the controller saw into the run (detection, remediation, recovery);
``decide`` says what to do next; ``judge`` gives the verdict once the fault is restored. The
stages are persisted in ``status.currentRun``, so a restarted operator decides from where the
last one stopped: a run found ``Injecting`` (intent recorded, fault maybe applied) injects again,
which every fault makes idempotent, and a run found ``Restoring`` restores again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from naksha.domain.chaos.probes import ProbeResult
from naksha.models import timestamps
from naksha.models.chaosexperiment import ChaosRun
from naksha.models.conditions import Reason

AGENT_RUN_DONE = frozenset({"Succeeded", "Failed", "Rejected", "Refused"})


def to_iso(moment: float) -> str:
    """RFC 3339 with microseconds: measured times need sub-second precision."""
    return timestamps.to_micro_text(moment)


def from_iso(text: str) -> float:
    return timestamps.to_seconds(text)


@dataclass(frozen=True)
class RunPlan:
    """What the spec asks of every run."""

    duration: float
    mttr_budget: float
    playbook: str | None = None


@dataclass(frozen=True)
class Remediation:
    """An AgentRun seen acting on the target after the fault."""

    name: str
    phase: str | None
    created_at: float


@dataclass(frozen=True)
class Observation:
    now: float
    steady: ProbeResult | None = None  # the first steady-state probe that failed; None: steady
    abort: ProbeResult | None = None  # the first abort condition that holds
    kill_switch: bool = False
    stop_requested: str | None = None  # abort command, deletion, suspension
    refusal: str | None = None  # namespace not opted in
    not_injectable: str | None = None  # this fault cannot run here, or not into that target
    incident: str | None = None  # an AgentRun acting on the target, a Rollout progressing
    fault_effect_gone: bool = False  # killed pods replaced, replicas back...
    remediation: Remediation | None = None


@dataclass(frozen=True)
class Decision:
    action: Literal["skip", "inject", "wait", "restore", "finish"]
    reason: Reason | None = None
    message: str = ""


def observe(run: ChaosRun, seen: Observation) -> ChaosRun:
    """The run with what was just seen folded in (only while the fault is or was in place)."""
    if run.injected_at is None or run.stage in ("Pending", "Injecting", "Done"):
        return run
    injected = from_iso(run.injected_at)
    update: dict[str, object] = {}
    remediation = seen.remediation
    if remediation is not None and remediation.created_at >= injected - 1.0:
        if run.detected_at is None:
            update["detected_at"] = to_iso(remediation.created_at)
            update["time_to_detect_seconds"] = round(max(0.0, remediation.created_at - injected), 3)
        update["agent_run"] = remediation.name
        update["agent_run_phase"] = remediation.phase
    if seen.steady is not None:
        update["unsteady_seen"] = True
    if run.recovered_at is None and seen.steady is None and seen.fault_effect_gone:
        update["recovered_at"] = to_iso(seen.now)
        update["time_to_recover_seconds"] = round(max(0.0, seen.now - injected), 3)
    return run.model_copy(update=update) if update else run


def decide(run: ChaosRun, plan: RunPlan, seen: Observation) -> Decision:
    """The next thing to do for this run."""
    if run.stage == "Pending":
        return _before_injection(seen)
    if run.stage == "Injecting":
        return Decision(
            "inject", Reason.CHAOS_RESUMED, "the intent was recorded; injecting (idempotently) again"
        )
    if run.stage == "Injected":
        stop = _stop_reason(seen)
        if stop is not None:
            return Decision("restore", Reason.ABORTED, stop)
        assert run.injected_at is not None
        if seen.now >= from_iso(run.injected_at) + plan.duration:
            return Decision(
                "restore", Reason.CHAOS_DURATION_ELAPSED, f"the fault's {plan.duration:g}s are over"
            )
        return Decision("wait")
    if run.stage == "Restoring":
        return Decision("restore", Reason.CHAOS_RESTORE_RETRIED, run.restore_error or "restoring")
    if run.stage == "Verifying":
        return _after_restore(run, plan, seen)
    return Decision("wait")


def _before_injection(seen: Observation) -> Decision:
    if seen.refusal is not None:
        return Decision("skip", Reason.REFUSED, seen.refusal)
    if seen.not_injectable is not None:
        return Decision("skip", Reason.CHAOS_NOT_INJECTABLE, seen.not_injectable)
    stop = _stop_reason(seen)
    if stop is not None:
        return Decision("skip", Reason.CHAOS_STOPPED, stop)
    if seen.incident is not None:
        return Decision("skip", Reason.CHAOS_INCIDENT_ONGOING, seen.incident)
    if seen.steady is not None:
        return Decision(
            "skip",
            Reason.CHAOS_STEADY_STATE_NOT_MET,
            f"probe {seen.steady.name} failed before the fault: {seen.steady.message}",
        )
    return Decision("inject", Reason.CHAOS_STEADY_STATE_MET, "every steady-state probe held")


def _stop_reason(seen: Observation) -> str | None:
    if seen.kill_switch:
        return "the cluster-wide chaos kill switch is on"
    if seen.stop_requested is not None:
        return seen.stop_requested
    if seen.abort is not None:
        return f"abort condition {seen.abort.name} holds: {seen.abort.message}"
    return None


def _after_restore(run: ChaosRun, plan: RunPlan, seen: Observation) -> Decision:
    if run.abort_reason is not None:
        return Decision("finish", Reason.ABORTED, run.abort_reason)
    assert run.injected_at is not None
    deadline = max(from_iso(run.injected_at) + plan.mttr_budget, from_iso(run.restored_at or run.injected_at))
    agent_busy = run.agent_run is not None and run.agent_run_phase not in AGENT_RUN_DONE
    settled = run.recovered_at is not None and seen.steady is None and not agent_busy
    if settled or seen.now >= deadline:
        verdict, expectation, reason = judge(run, plan, seen)
        return Decision("finish", verdict, reason if expectation is None else f"{expectation}: {reason}")
    return Decision("wait")


def judge(run: ChaosRun, plan: RunPlan, seen: Observation) -> tuple[Reason, str | None, str]:
    """(verdict: Passed, Failed or Aborted; the expectation that failed or None; why) for a restored run."""
    if run.abort_reason is not None:
        return Reason.ABORTED, None, run.abort_reason
    target = ", ".join(run.targets) or "the target"
    if plan.playbook and run.agent_run is None:
        return (
            Reason.FAILED,
            "remediation-started",
            f"no AgentRun with playbook {plan.playbook} acted on {target}",
        )
    if run.agent_run is not None and plan.playbook and run.agent_run_phase != "Succeeded":
        return (
            Reason.FAILED,
            "remediation-succeeded",
            f"AgentRun {run.agent_run} ended {run.agent_run_phase or 'unfinished'}",
        )
    if run.recovered_at is None:
        why = seen.steady.message if seen.steady is not None else "the fault's effect never went away"
        probe = f" (probe {seen.steady.name})" if seen.steady is not None else ""
        return Reason.FAILED, "steady-state-after", f"not steady within the budget{probe}: {why}"
    recovery = run.time_to_recover_seconds or 0.0
    if recovery > plan.mttr_budget:
        return Reason.FAILED, "mttr-budget", f"recovered in {recovery:.1f}s, budget {plan.mttr_budget:g}s"
    by = f", remediated by AgentRun {run.agent_run}" if run.agent_run else ""
    return Reason.CHAOS_PASSED, None, f"recovered in {recovery:.1f}s (budget {plan.mttr_budget:g}s){by}"
