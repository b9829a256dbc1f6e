"""An AgentRun's conditions move their lastTransitionTime only when their status flips.

The engine checkpoints the run many times while it runs; each checkpoint sets the conditions
of the run's phase through the one condition builder (``naksha.models.conditions``). Driven
here against the in-memory API with a clock the test moves.
"""

from __future__ import annotations

import datetime
from typing import Any

from tests.support.fake_kube import FakeKube

from naksha.controllers.agentrun.engine import Engine
from naksha.domain.agentrun.runstate import read_run, set_run_conditions
from naksha.models.conditions import Reason
from naksha.models.resources import AGENT_RUNS

START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def stamp(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def waiting_run(**spec: Any) -> dict[str, Any]:
    graph = {
        "start": "first",
        "nodes": [
            {
                "name": "first",
                "type": "observe",
                "wpk": "wait",
                "params": {"duration": "5s"},
                "next": "second",
            },
            {
                "name": "second",
                "type": "observe",
                "wpk": "wait",
                "params": {"duration": "5s"},
                "next": "done",
            },
            {"name": "done", "type": "end"},
        ],
    }
    return {
        "apiVersion": "naksha.io/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": "waits", "namespace": "ns"},
        "spec": {"graph": graph, **spec},
    }


def conditions(kube: FakeKube) -> dict[str, dict[str, Any]]:
    status = kube.get(AGENT_RUNS, "ns", "waits")["status"]
    return {c["type"]: c for c in status["conditions"]}


def drive(kube: FakeKube, clock: Clock, seen: list[dict[str, dict[str, Any]]]) -> str:
    engine = Engine(kube, kube.get(AGENT_RUNS, "ns", "waits"), clock=clock, sleep=clock.sleep)
    while engine.run.phase not in ("Succeeded", "Failed", "Refused", "Rejected"):
        writes = len(kube.writes)
        if not engine.run_once():
            clock.sleep(1.0)
        if len(kube.writes) > writes:
            seen.append(conditions(kube))
    return str(engine.run.phase)


def test_checkpoints_of_a_running_run_keep_the_times_of_unchanged_conditions():
    kube, clock, seen = FakeKube(waiting_run()), Clock(), []
    assert drive(kube, clock, seen) == "Succeeded"
    running = [c for c in seen if "Progressing" in c]
    assert len(running) >= 3, "the waits were checkpointed"
    assert {c["Progressing"]["lastTransitionTime"] for c in running} == {stamp(START)}
    assert {c["Accepted"]["lastTransitionTime"] for c in seen} == {stamp(START)}
    final = seen[-1]
    assert "Progressing" not in final
    assert final["Completed"]["reason"] == Reason.SUCCEEDED
    assert final["Completed"]["lastTransitionTime"] == stamp(clock.now)
    assert clock.now >= START + 10, "both waits took their time"


def test_approval_then_running_moves_only_the_conditions_that_changed():
    kube, clock, seen = FakeKube(waiting_run(approval={"required": True, "timeout": "1h"})), Clock(), []
    engine = Engine(kube, kube.get(AGENT_RUNS, "ns", "waits"), clock=clock, sleep=clock.sleep)
    engine.run_once()
    awaiting = conditions(kube)
    assert awaiting["AwaitingApproval"]["reason"] == Reason.APPROVAL_REQUIRED
    clock.sleep(30)
    kube.merge_patch(
        AGENT_RUNS, "ns", "waits", {"metadata": {"annotations": {"naksha.io/approval": "approved"}}}
    )
    assert drive(kube, clock, seen) == "Succeeded"
    assert "AwaitingApproval" not in seen[0]
    assert seen[0]["Progressing"]["lastTransitionTime"] == stamp(START + 30)
    assert {c["Accepted"]["lastTransitionTime"] for c in seen} == {awaiting["Accepted"]["lastTransitionTime"]}


def test_a_condition_that_flips_gets_a_new_transition_time():
    run = read_run({"phase": "Running", "message": "going"})
    set_run_conditions(run, None, 1, "2026-01-01T00:00:00Z")
    run.phase, run.message = "Refused", "the target is busy"
    set_run_conditions(run, Reason.TARGET_BUSY, 1, "2026-01-01T00:05:00Z")
    by_type = {c.type: c for c in run.conditions}
    assert by_type["Accepted"].last_transition_time == "2026-01-01T00:00:00Z"
    assert by_type["Completed"].last_transition_time == "2026-01-01T00:05:00Z"
    assert by_type["Refused"].reason == Reason.TARGET_BUSY
    assert "Progressing" not in by_type


def test_a_run_handed_to_its_job_is_pending_with_the_reason_job_pending():
    run = read_run({})
    run.message = "waiting for Job r-run to run the graph"
    set_run_conditions(run, Reason.JOB_PENDING, 1, "2026-01-01T00:00:00Z")
    by_type = {c.type: c.reason for c in run.conditions}
    assert by_type == {"Accepted": "SpecValid", "Progressing": "JobPending"}
