"""The run's state machine: what happens before, during and after the fault, and the verdicts."""

from __future__ import annotations

from naksha.domain.chaos.probes import ProbeResult
from naksha.domain.chaos.run import (
    Observation,
    Remediation,
    RunPlan,
    decide,
    from_iso,
    judge,
    observe,
    to_iso,
)
from naksha.models.chaosexperiment import ChaosRun

T0 = 1_800_000_000.0
PLAN = RunPlan(duration=10.0, mttr_budget=30.0)
PLAYBOOK_PLAN = RunPlan(duration=10.0, mttr_budget=30.0, playbook="scale-out")
FAILING = ProbeResult("web-available", False, "0 available of 2 needed")


def pending() -> ChaosRun:
    return ChaosRun(id="r1", started_at=to_iso(T0), targets=["web"])


def injected(**changes) -> ChaosRun:
    return pending().model_copy(update={"stage": "Injected", "injected_at": to_iso(T0), **changes})


def verifying(**changes) -> ChaosRun:
    return injected(stage="Verifying", restored_at=to_iso(T0 + 10), **changes)


class TestBeforeTheFault:
    def test_a_steady_system_is_injected(self):
        assert decide(pending(), PLAN, Observation(now=T0)).action == "inject"

    def test_an_unsteady_system_is_skipped_naming_the_probe(self):
        decision = decide(pending(), PLAN, Observation(now=T0, steady=FAILING))
        assert (decision.action, decision.reason) == ("skip", "SteadyStateNotMet")
        assert "probe web-available failed before the fault: 0 available" in decision.message

    def test_a_refusal_wins_over_everything(self):
        decision = decide(
            pending(), PLAN, Observation(now=T0, refusal="namespace not opted in", kill_switch=True)
        )
        assert (decision.action, decision.message) == ("skip", "namespace not opted in")

    def test_the_kill_switch_and_an_ongoing_incident_skip_the_run(self):
        assert "kill switch" in decide(pending(), PLAN, Observation(now=T0, kill_switch=True)).message
        decision = decide(pending(), PLAN, Observation(now=T0, incident="AgentRun a1 is acting on web"))
        assert (decision.action, decision.reason) == ("skip", "IncidentOngoing")

    def test_a_run_found_injecting_after_a_restart_injects_again(self):
        run = pending().model_copy(update={"stage": "Injecting"})
        assert decide(run, PLAN, Observation(now=T0)).action == "inject"


class TestDuringTheFault:
    def test_it_waits_until_the_duration_is_over_then_restores(self):
        assert decide(injected(), PLAN, Observation(now=T0 + 9.9)).action == "wait"
        decision = decide(injected(), PLAN, Observation(now=T0 + 10))
        assert (decision.action, decision.reason) == ("restore", "DurationElapsed")

    def test_an_abort_condition_restores_at_once(self):
        abort = ProbeResult("error-rate", False, "value 0.9 fails < 0.1")
        decision = decide(injected(), PLAN, Observation(now=T0 + 1, abort=abort))
        assert (decision.action, decision.reason) == ("restore", "Aborted")
        assert "abort condition error-rate holds" in decision.message

    def test_the_kill_switch_and_an_abort_command_restore_at_once(self):
        assert decide(injected(), PLAN, Observation(now=T0 + 1, kill_switch=True)).action == "restore"
        decision = decide(
            injected(), PLAN, Observation(now=T0 + 1, stop_requested="aborted by naksha chaos abort")
        )
        assert decision.message == "aborted by naksha chaos abort"

    def test_a_failed_restore_is_retried(self):
        run = injected(stage="Restoring", restore_error="503 ServiceUnavailable")
        decision = decide(run, PLAN, Observation(now=T0 + 11))
        assert (decision.action, decision.reason) == ("restore", "RestoreRetried")


class TestObserving:
    def test_recovery_needs_the_fault_effect_gone_and_the_steady_state(self):
        run = observe(injected(), Observation(now=T0 + 2, steady=FAILING))
        assert run.unsteady_seen and run.recovered_at is None
        run = observe(run, Observation(now=T0 + 3, fault_effect_gone=False))
        assert run.recovered_at is None
        run = observe(run, Observation(now=T0 + 4.5, fault_effect_gone=True))
        assert run.time_to_recover_seconds == 4.5
        assert from_iso(run.recovered_at or "") == T0 + 4.5
        assert observe(run, Observation(now=T0 + 9, fault_effect_gone=True)).recovered_at == run.recovered_at

    def test_the_remediating_agent_run_gives_the_time_to_detect(self):
        run = observe(
            injected(), Observation(now=T0 + 5, remediation=Remediation("ar-1", "Running", T0 + 2.25))
        )
        assert (run.agent_run, run.agent_run_phase, run.time_to_detect_seconds) == ("ar-1", "Running", 2.25)
        run = observe(run, Observation(now=T0 + 8, remediation=Remediation("ar-1", "Succeeded", T0 + 2.25)))
        assert run.agent_run_phase == "Succeeded" and run.time_to_detect_seconds == 2.25

    def test_an_agent_run_older_than_the_fault_is_not_its_remediation(self):
        run = observe(injected(), Observation(now=T0 + 5, remediation=Remediation("old", "Running", T0 - 60)))
        assert run.agent_run is None

    def test_nothing_is_observed_before_injection(self):
        assert observe(pending(), Observation(now=T0, fault_effect_gone=True)) == pending()


class TestVerdicts:
    def test_recovered_within_the_budget_passes(self):
        run = verifying(recovered_at=to_iso(T0 + 4), time_to_recover_seconds=4.0)
        decision = decide(run, PLAN, Observation(now=T0 + 11))
        assert (decision.action, decision.reason) == ("finish", "Passed")
        assert "recovered in 4.0s (budget 30s)" in decision.message

    def test_the_verdict_names_the_remediating_agent_run(self):
        run = verifying(
            recovered_at=to_iso(T0 + 4),
            time_to_recover_seconds=4.0,
            agent_run="ar-1",
            agent_run_phase="Succeeded",
        )
        assert "remediated by AgentRun ar-1" in decide(run, PLAYBOOK_PLAN, Observation(now=T0 + 11)).message

    def test_it_waits_for_a_remediating_run_still_acting(self):
        run = verifying(recovered_at=to_iso(T0 + 4), agent_run="ar-1", agent_run_phase="Running")
        assert decide(run, PLAYBOOK_PLAN, Observation(now=T0 + 11)).action == "wait"

    def test_no_remediation_fails_the_remediation_expectation(self):
        run = verifying(recovered_at=to_iso(T0 + 12), time_to_recover_seconds=12.0)
        decision = decide(run, PLAYBOOK_PLAN, Observation(now=T0 + 12))
        assert (decision.reason, decision.message) == (
            "Failed",
            "remediation-started: no AgentRun with playbook scale-out acted on web",
        )

    def test_a_failed_remediation_fails_its_expectation(self):
        run = verifying(recovered_at=to_iso(T0 + 12), agent_run="ar-1", agent_run_phase="Failed")
        verdict, expectation, reason = judge(run, PLAYBOOK_PLAN, Observation(now=T0 + 12))
        assert (verdict, expectation, reason) == (
            "Failed",
            "remediation-succeeded",
            "AgentRun ar-1 ended Failed",
        )

    def test_no_recovery_by_the_budget_fails_naming_the_probe(self):
        run = verifying()
        assert decide(run, PLAN, Observation(now=T0 + 29, steady=FAILING)).action == "wait"
        decision = decide(run, PLAN, Observation(now=T0 + 30, steady=FAILING))
        assert decision.reason == "Failed"
        assert decision.message.startswith(
            "steady-state-after: not steady within the budget (probe web-available)"
        )

    def test_a_recovery_slower_than_the_budget_fails_the_mttr_expectation(self):
        run = verifying(recovered_at=to_iso(T0 + 40), time_to_recover_seconds=40.0)
        assert judge(run, PLAN, Observation(now=T0 + 40))[:2] == ("Failed", "mttr-budget")

    def test_an_aborted_run_is_aborted_whatever_it_measured(self):
        run = verifying(abort_reason="kill switch", recovered_at=to_iso(T0 + 1))
        decision = decide(run, PLAN, Observation(now=T0 + 2))
        assert (decision.action, decision.reason, decision.message) == ("finish", "Aborted", "kill switch")
