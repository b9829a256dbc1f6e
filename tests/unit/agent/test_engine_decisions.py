"""The AgentRun engine's decisions, fast: guardrails, approval, limits and exactly-once actions.

The pure decisions (``naksha.domain.agentrun``) are checked directly; the engine itself runs
against the in-memory API (``tests/support/fake_kube.py``, the Kube client's protocol) with a
clock the test moves, so each case takes milliseconds. The same engine runs on the control
plane in ``tests/integration/agent``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support.fake_kube import FakeKube

from naksha.controllers.agentrun.engine import Engine
from naksha.domain.agentrun.guardrails import (
    LOCK,
    RECENT_ACTIONS,
    RateLimit,
    Refusal,
    approval,
    lock_annotations,
)
from naksha.domain.agentrun.runstate import limit_reached, read_run
from naksha.kube import resource_for
from naksha.models.agentrun import AgentRunSpec, Approval
from naksha.models.conditions import Reason
from naksha.models.resources import AGENT_RUNS
from naksha.settings import OperatorSettings

DEPLOYMENTS = resource_for("apps/v1", "Deployment")
NOW = 1_800_000_000.0
LIMIT = RateLimit(actions=2, window=600.0)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# --- the pure decisions -------------------------------------------------------------------------


def decide_lock(
    annotations: dict[str, str], *, holder_running: bool = True, key: str = "k1"
) -> dict[str, str]:
    return lock_annotations(
        annotations, me="ns/mine", holder_running=holder_running, now=NOW, limit=LIMIT, key=key, what="web"
    )


def test_a_free_target_is_locked_and_the_action_counted():
    written = decide_lock({})
    assert written[LOCK] == "ns/mine"
    assert json.loads(written[RECENT_ACTIONS]) == {"k1": NOW}


def test_a_target_held_by_another_running_run_is_refused_but_a_finished_holder_does_not_count():
    with pytest.raises(Refusal) as refused:
        decide_lock({LOCK: "ns/other"})
    assert refused.value.reason == Reason.TARGET_BUSY
    assert decide_lock({LOCK: "ns/other"}, holder_running=False)[LOCK] == "ns/mine"


def test_the_rate_limit_counts_actions_in_the_window_and_a_replay_once():
    recent = json.dumps({"a": NOW - 10, "b": NOW - 5, "old": NOW - 601})
    with pytest.raises(Refusal) as refused:
        decide_lock({RECENT_ACTIONS: recent})
    assert refused.value.reason == Reason.RATE_LIMITED
    replayed = decide_lock({RECENT_ACTIONS: json.dumps({"k1": NOW - 10, "b": NOW - 5})}, key="k1")
    assert json.loads(replayed[RECENT_ACTIONS]) == {"k1": NOW - 10, "b": NOW - 5}


def test_approval_is_read_from_the_annotation_and_expires():
    spec = Approval(required=True, timeout="10m")
    started = "2027-01-15T08:00:00Z"
    at = 1_800_003_600.0  # 2027-01-15T09:00:00Z
    assert approval({"naksha.io/approval": " Approved "}, spec, started, at) == "approved"
    assert approval({"naksha.io/approval": "rejected"}, spec, started, at) == "rejected"
    assert approval({}, spec, started, at) == "expired"
    assert approval({}, spec, started, at - 3000) == "pending"


def test_a_run_ends_at_its_time_limit_or_its_step_limit():
    spec = AgentRunSpec.model_validate({"playbookRef": {"name": "p"}, "timeouts": {"run": "1m"}})
    run = read_run({"state": {"startedAt": NOW}, "stepCount": 3})
    assert limit_reached(run, spec, 10, "act", NOW + 30) is None
    timeout = limit_reached(run, spec, 10, "act", NOW + 61)
    assert timeout is not None and timeout.reason == Reason.RUN_TIMEOUT
    steps = limit_reached(run, spec, 3, "act", NOW + 30)
    assert steps is not None and steps.reason is None and "step limit of 3" in steps.message


# --- the engine against the in-memory API -------------------------------------------------------


def deployment(name: str, replicas: int, **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ns", "annotations": annotations},
        "spec": {"replicas": replicas},
    }


def scale_run(name: str = "fix", **spec: Any) -> dict[str, Any]:
    graph = {
        "start": "scale",
        "nodes": [
            {"name": "scale", "type": "act", "wpk": "scale", "params": {"delta": 2}, "next": "done"},
            {"name": "done", "type": "end"},
        ],
    }
    return {
        "apiVersion": "naksha.io/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"graph": graph, "target": {"kind": "Deployment", "name": "web"}, **spec},
    }


def drive(kube: FakeKube, name: str = "fix", settings: OperatorSettings | None = None) -> dict[str, Any]:
    clock = Clock()
    engine = Engine(kube, kube.get(AGENT_RUNS, "ns", name), settings=settings, clock=clock, sleep=clock.sleep)
    engine.run_to_end()
    return dict(kube.get(AGENT_RUNS, "ns", name)["status"])


def test_a_run_scales_its_target_once_and_releases_the_lock():
    kube = FakeKube(deployment("web", 2), scale_run())
    status = drive(kube)
    web = kube.get(DEPLOYMENTS, "ns", "web")
    assert status["phase"] == "Succeeded"
    assert web["spec"]["replicas"] == 4
    assert LOCK not in web["metadata"]["annotations"]
    (action,) = status["actions"].values()
    assert action["plan"] == {"previous": 2, "replicas": 4} and action["result"]["replicas"] == 4


def test_a_target_locked_by_a_running_run_refuses_the_run_without_acting():
    holder = scale_run("holder")
    kube = FakeKube(deployment("web", 2, **{LOCK: "ns/holder"}), holder, scale_run())
    kube.merge_patch(AGENT_RUNS, "ns", "holder", {"status": {"phase": "Running"}}, status=True)
    status = drive(kube)
    assert status["phase"] == "Refused"
    assert {c["type"]: c["reason"] for c in status["conditions"]}["Refused"] == "TargetBusy"
    assert kube.get(DEPLOYMENTS, "ns", "web")["spec"]["replicas"] == 2


def test_the_kill_switch_refuses_every_action():
    kube = FakeKube(deployment("web", 2), scale_run())
    status = drive(kube, settings=OperatorSettings(kill_switch=True))
    assert (status["phase"], status["outcome"]["resolved"]) == ("Refused", False)
    assert kube.get(DEPLOYMENTS, "ns", "web")["spec"]["replicas"] == 2


class Killed(BaseException):
    """The process dying at that point (nothing of the engine's may catch it)."""


class KilledBeforeApplying(FakeKube):
    """An API whose first Deployment patch never happens: the engine dies just before it."""

    armed = True

    def merge_patch(self, ref: Any, namespace: Any, name: Any, patch: Any, **options: Any) -> dict[str, Any]:
        if ref.plural == "deployments" and "spec" in patch and self.armed:
            self.armed = False
            raise Killed()
        return super().merge_patch(ref, namespace, name, patch, **options)


def test_a_recorded_intent_is_applied_by_a_restarted_engine_without_planning_again():
    kube = KilledBeforeApplying(deployment("web", 2), scale_run())
    with pytest.raises(Killed):
        drive(kube)
    (intent,) = kube.get(AGENT_RUNS, "ns", "fix")["status"]["actions"].values()
    assert intent["plan"] == {"previous": 2, "replicas": 4} and "result" not in intent
    kube.merge_patch(DEPLOYMENTS, "ns", "web", {"spec": {"replicas": 3}})  # someone else scaled since
    status = drive(kube)  # a restarted engine, from the checkpointed status
    assert status["phase"] == "Succeeded"
    assert kube.get(DEPLOYMENTS, "ns", "web")["spec"]["replicas"] == 4  # the absolute plan, not 3 + 2


def test_a_rejected_approval_ends_the_run_rejected():
    kube = FakeKube(deployment("web", 2), scale_run(approval={"required": True}))
    kube.merge_patch(
        AGENT_RUNS, "ns", "fix", {"metadata": {"annotations": {"naksha.io/approval": "rejected"}}}
    )
    status = drive(kube)
    assert status["phase"] == "Rejected"
    assert {c["type"]: c["reason"] for c in status["conditions"]}["Completed"] == "Rejected"
