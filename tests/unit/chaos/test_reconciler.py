"""The ChaosExperiment reconciler over an in-memory API: the intent is checkpointed before the
fault, a failing restore is retried and reported Degraded, invalid specs get the exact reason."""

from __future__ import annotations

import copy
from typing import Any

from naksha.kube import KubeError, NotFound
from naksha.models.conditions import Reason
from naksha.models.kinds import CHAOS_EXPERIMENT
from naksha.reconcilers.chaosexperiment import reconcile
from naksha.reconcilers.context import ReconcileContext
from naksha.settings import OperatorSettings


class FakeKube:
    """Just the verbs the reconciler uses; writes are recorded in order."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {
            ("namespaces", "ns"): {"metadata": {"name": "ns", "labels": {"naksha.io/chaos": "enabled"}}},
            ("deployments", "web"): {
                "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"replicas": 3},
                "status": {"availableReplicas": 3},
            },
        }
        self.writes: list[str] = []
        self.fail_patches = 0

    def get(self, ref: Any, namespace: str | None, name: str) -> dict[str, Any]:
        try:
            return copy.deepcopy(self.objects[(ref.plural, name)])
        except KeyError:
            raise NotFound(404, "NotFound", name) from None

    def list(
        self, ref: Any, namespace: str | None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        return [copy.deepcopy(obj) for (plural, _), obj in self.objects.items() if plural == ref.plural]

    def json_patch(
        self, ref: Any, namespace: str | None, name: str, operations: list[dict[str, Any]]
    ) -> dict:
        if self.fail_patches:
            self.fail_patches -= 1
            raise KubeError(503, "ServiceUnavailable", "the API is overloaded")
        obj = self.objects[(ref.plural, name)]
        test, replace = operations
        if obj["spec"]["replicas"] != test["value"]:
            raise KubeError(422, "Invalid", "test failed")
        obj["spec"]["replicas"] = replace["value"]
        self.writes.append(f"replicas={replace['value']}")
        return obj

    def merge_patch(
        self, ref: Any, namespace: str | None, name: str, patch: dict, *, status: bool = False
    ) -> dict:
        self.writes.append(f"checkpoint:{patch['status']['currentRun']['stage']}")
        return {}


SPEC = {
    "target": {"kind": "Deployment", "selector": {"matchLabels": {"app": "web"}}, "mode": "all"},
    "fault": {"type": "scale-to-zero"},
    "duration": "10s",
}


def tick(kube: FakeKube, status: dict, now: float, spec: dict | None = None) -> ReconcileContext:
    body = {
        "metadata": {"name": "x", "namespace": "ns", "generation": 1},
        "spec": spec or SPEC,
        "status": status,
    }
    context = ReconcileContext.from_body(CHAOS_EXPERIMENT, body, kube=kube, settings=OperatorSettings())  # type: ignore[arg-type]
    reconcile(context, created_at=now)
    return context


def test_the_intent_is_checkpointed_before_the_fault_and_restored_after_the_duration(monkeypatch):
    kube = FakeKube()
    context = tick(kube, {}, 1000.0)
    assert kube.writes == ["checkpoint:Injecting", "replicas=0"]
    run = context.status.current_run
    assert run is not None and run.stage == "Injected"
    assert [(s.name, s.value, s.injected_value) for s in run.restore] == [("web", 3, 0)]

    status = context.status_patch()
    monkeypatch.setattr("time.time", lambda: 10_000_000_000.0)  # long after the duration
    later = tick(kube, status, 1000.0)
    assert kube.writes[-1] == "replicas=3"
    assert later.status.current_run is None
    assert later.status.history[-1].verdict in ("Passed", "Failed")
    # The finished run is written as null, so the merge patch removes status.currentRun.
    assert later.status_patch()["currentRun"] is None
    verdict = later.events[-1]
    assert (
        verdict.reason in (Reason.CHAOS_PASSED, Reason.FAILED)
        and verdict.reason == verdict.message.split()[1][:-1]
    )


def test_a_failing_restore_is_retried_and_reported_degraded_until_it_succeeds(monkeypatch):
    kube = FakeKube()
    status = tick(kube, {}, 1000.0).status_patch()
    monkeypatch.setattr("time.time", lambda: 10_000_000_000.0)
    kube.fail_patches = 2
    failing = tick(kube, status, 1000.0)
    run = failing.status.current_run
    assert run is not None and run.stage == "Restoring" and run.restore_attempts == 1
    degraded = {c["type"]: c for c in failing.conditions}["Degraded"]
    assert (degraded["status"], degraded["reason"]) == ("True", "RestoreFailed")
    assert "503 ServiceUnavailable" in degraded["message"]
    again = tick(kube, failing.status_patch(), 1000.0)
    assert again.status.current_run is not None and again.status.current_run.restore_attempts == 2
    done = tick(kube, again.status_patch(), 1000.0)
    assert "Degraded" not in {c["type"] for c in done.conditions}
    assert kube.writes.count("replicas=3") == 1
    assert done.status.history[-1].restored_at is not None


def test_an_invalid_spec_is_refused_with_the_exact_reason_and_nothing_is_touched():
    kube = FakeKube()
    bad = {**SPEC, "fault": {"type": "pod-kill", "params": {"force": True}}, "schedule": "61 * * * *"}
    context = tick(kube, {}, 1000.0, spec=bad)
    message = {c["type"]: c for c in context.conditions}["InvalidSpec"]["message"]
    assert "cron minute value 61 is outside 0-59" in message
    assert "fault pod-kill has unknown params ['force'] (allowed: gracePeriodSeconds)" in message
    assert kube.writes == []


def test_an_agent_run_acting_on_the_target_skips_the_run_and_touches_nothing():
    kube = FakeKube()
    kube.objects[("agentruns", "fixing")] = {
        "metadata": {"name": "fixing"},
        "spec": {"target": {"kind": "Deployment", "name": "web"}},
        "status": {"phase": "Running"},
    }
    context = tick(kube, {}, 1000.0)
    (run,) = context.status.history
    assert (run.verdict, run.reason) == ("Skipped", "AgentRun fixing is acting on web (Running)")
    assert kube.writes == []


def test_a_selection_beyond_the_blast_radius_is_skipped_with_the_limit():
    kube = FakeKube()
    kube.objects[("deployments", "api")] = {
        "kind": "Deployment",
        "metadata": {"name": "api", "labels": {"app": "web"}},
        "spec": {"replicas": 1},
        "status": {"availableReplicas": 1},
    }
    context = tick(kube, {}, 1000.0, spec={**SPEC, "blastRadius": {"maxTargets": 1}})
    (run,) = context.status.history
    assert (run.verdict, run.reason) == ("Skipped", "2 targets selected, blastRadius.maxTargets is 1")
    assert kube.writes == []


def test_replace_restores_the_running_fault_and_starts_a_new_run():
    kube = FakeKube()
    spec = {**SPEC, "concurrencyPolicy": "Replace", "duration": "1h"}
    first = tick(kube, {}, 1000.0, spec=spec)
    assert kube.writes == ["checkpoint:Injecting", "replicas=0"]
    body_status = first.status_patch()
    body = {
        "metadata": {
            "name": "x",
            "namespace": "ns",
            "generation": 1,
            "annotations": {"naksha.io/chaos-run": "now"},
        },
        "spec": spec,
        "status": body_status,
    }
    context = ReconcileContext.from_body(CHAOS_EXPERIMENT, body, kube=kube, settings=OperatorSettings())  # type: ignore[arg-type]
    reconcile(context)
    (replaced,) = context.status.history
    assert (replaced.verdict, replaced.reason) == (
        "Aborted",
        "replaced by a newer run (concurrencyPolicy Replace)",
    )
    assert kube.writes == [
        "checkpoint:Injecting",
        "replicas=0",
        "replicas=3",
        "checkpoint:Injecting",
        "replicas=0",
    ]
    assert context.status.current_run is not None and context.status.current_run.id == "run-2"


def test_a_command_taken_is_written_even_when_the_status_had_no_commands_before():
    kube = FakeKube()
    body = {
        "metadata": {
            "name": "x",
            "namespace": "ns",
            "generation": 1,
            "annotations": {"naksha.io/chaos-run": "c1"},
        },
        "spec": SPEC,
        "status": {},
    }
    context = ReconcileContext.from_body(CHAOS_EXPERIMENT, body, kube=kube, settings=OperatorSettings())  # type: ignore[arg-type]
    reconcile(context)
    patch = context.status_patch()
    assert patch["handledCommands"] == {"run": "c1"}
    assert (patch["runs"], patch["currentRun"]["startedBy"]) == (1, "command")


def test_suspending_an_experiment_restores_its_fault_at_once_and_the_run_is_aborted():
    kube = FakeKube()
    spec = {**SPEC, "duration": "1h"}
    injected = tick(kube, {}, 1000.0, spec=spec)
    suspended = tick(kube, injected.status_patch(), 1000.0, spec={**spec, "suspend": True})
    (run,) = suspended.status.history
    assert (run.verdict, run.reason) == ("Aborted", "the experiment was suspended")
    assert kube.writes == ["checkpoint:Injecting", "replicas=0", "replicas=3"]
    again = tick(kube, suspended.status_patch(), 1000.0, spec={**spec, "suspend": True})
    assert again.status.current_run is None and len(again.status.history) == 1


def test_an_idle_experiment_is_woken_by_a_command_not_yet_taken():
    from naksha.domain.chaos.timer import idle

    body = {
        "metadata": {"creationTimestamp": "2026-01-01T00:00:00Z", "annotations": {}},
        "spec": SPEC,
        "status": {"runs": 1, "handledCommands": {"run": "a"}},
    }
    assert idle(body, 2_000_000_000.0)
    body["metadata"]["annotations"] = {"naksha.io/chaos-run": "a"}
    assert idle(body, 2_000_000_000.0)
    body["metadata"]["annotations"] = {"naksha.io/chaos-run": "b"}
    assert not idle(body, 2_000_000_000.0)
    body["metadata"]["annotations"] = {"naksha.io/chaos-abort": "x"}
    assert not idle(body, 2_000_000_000.0)


def test_an_invalid_experiment_does_not_tick():
    from naksha.domain.chaos.timer import idle

    body = {
        "metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {**SPEC, "schedule": "61 * * * *"},
        "status": {"phase": "Invalid"},
    }
    assert idle(body, 2_000_000_000.0)
