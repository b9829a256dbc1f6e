"""The graph engine, driven directly against the local control plane with a clock the test controls.

No operator here: each test builds an ``Engine`` for one AgentRun and runs it to the end, so the
graph's routing, verification, fallbacks, limits and replays are checked step by step.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from kubernetes import client
from tests.support import ROOT, spec_changes
from tests.support.agentruns import anomaly, scale_graph, setup
from tests.support.engine import Clock, PrometheusStandIn, create_run, run_to_end

from naksha.controllers.agentrun.engine import Engine
from naksha.domain.rollout import controls
from naksha.kube import Kube
from naksha.models.group import GROUP, VERSION

TARGET = {"kind": "Deployment", "name": "web"}


@pytest.fixture
def kube(api_client: client.ApiClient, naksha_crds: None) -> Kube:
    return Kube(api_client)


def test_a_decide_node_routes_a_quiet_signal_to_the_end_without_acting(kube, api_client, fresh_namespace):
    apps, custom = setup(api_client, fresh_namespace, "web")
    anomaly(custom, fresh_namespace, age=3600)  # an old anomaly: nothing to do
    body = create_run(custom, fresh_namespace, "quiet", {"graph": scale_graph(), "target": TARGET})
    status = run_to_end(kube, body, Clock())
    assert status["phase"] == "Succeeded"
    assert [s["node"] for s in status["steps"]] == ["observe", "decide", "done"]
    assert status["actions"] == {}
    assert apps.read_namespaced_deployment("web", fresh_namespace).spec.replicas == 2


def test_a_failed_verification_reverts_the_action_and_ends_failed_with_the_evidence(
    kube, api_client, fresh_namespace
):
    apps, custom = setup(api_client, fresh_namespace, "web")
    graph = scale_graph()
    graph["nodes"][3]["params"]["window"] = "1h"  # the anomaly stays young for the whole check
    body = create_run(custom, fresh_namespace, "stuck", {"graph": graph, "target": TARGET})
    status = run_to_end(kube, body, Clock())
    assert status["phase"] == "Failed"
    assert status["state"]["recovered"] is False
    assert status["state"]["reverted"] == ["scale:scale"]
    assert status["outcome"]["resolved"] is False
    assert apps.read_namespaced_deployment("web", fresh_namespace).spec.replicas == 2  # back where it was


def test_after_a_failed_verification_the_next_candidate_playbook_is_tried(kube, api_client, fresh_namespace):
    apps, custom = setup(api_client, fresh_namespace, "web")
    core = client.CoreV1Api(api_client)
    stubborn = scale_graph(delta=1)
    stubborn["nodes"][3]["params"]["window"] = "1h"
    bigger = scale_graph(delta=4)  # its verification lets the anomaly age past 30 s
    stubborn["nodes"][3]["timeout"], bigger["nodes"][3]["timeout"] = "10s", "2m"
    for name, graph in (("small-step", stubborn), ("big-step", bigger)):
        core.create_namespaced_config_map(
            fresh_namespace,
            {
                "metadata": {"name": name, "labels": {"naksha.io/playbook": "true"}},
                "data": {"playbook.yaml": yaml.safe_dump(graph)},
            },
        )
    spec = {"playbookRef": {"name": "small-step"}, "fallbacks": [{"name": "big-step"}], "target": TARGET}
    status = run_to_end(kube, create_run(custom, fresh_namespace, "fallback", spec), Clock())
    assert status["phase"] == "Succeeded", status["message"]
    assert status["outcome"]["playbook"] == "big-step"
    assert status["outcome"]["playbooksTried"] == ["small-step", "big-step"]
    assert status["outcome"]["actions"] == ["scale:scale", "scale:scale"]
    assert apps.read_namespaced_deployment("web", fresh_namespace).spec.replicas == 6  # 2, +1 reverted, +4


def test_a_graph_that_keeps_looping_stops_at_its_step_limit(kube, api_client, fresh_namespace):
    _, custom = setup(api_client, fresh_namespace, "web")
    graph = {
        "start": "look",
        "maxSteps": 6,
        "nodes": [
            {"name": "look", "type": "observe", "wpk": "wait", "params": {"duration": "1s"}, "next": "again"},
            {"name": "again", "type": "decide", "edges": [{"when": "true", "to": "look"}, {"to": "done"}]},
            {"name": "done", "type": "end"},
        ],
    }
    status = run_to_end(kube, create_run(custom, fresh_namespace, "loop", {"graph": graph}), Clock())
    assert status["phase"] == "Failed"
    assert "step limit of 6" in status["message"]


def test_a_run_past_its_time_limit_ends_failed_with_the_reason(kube, api_client, fresh_namespace):
    _, custom = setup(api_client, fresh_namespace, "web")
    graph = {
        "start": "a",
        "nodes": [
            {"name": "a", "type": "observe", "wpk": "wait", "params": {"duration": "40s"}, "next": "b"},
            {"name": "b", "type": "observe", "wpk": "wait", "params": {"duration": "40s"}, "next": "done"},
            {"name": "done", "type": "end"},
        ],
    }
    spec = {"graph": graph, "timeouts": {"run": "1m"}}
    status = run_to_end(kube, create_run(custom, fresh_namespace, "slow", spec), Clock())
    assert status["phase"] == "Failed"
    completed = next(c for c in status["conditions"] if c["type"] == "Completed")
    assert completed["reason"] == "RunTimeout"
    assert "exceeded spec.timeouts.run (1m) at node b" in completed["message"]


def test_a_recorded_intent_is_applied_once_however_often_the_run_is_replayed(
    kube, api_client, fresh_namespace
):
    apps, custom = setup(api_client, fresh_namespace, "web")
    before = apps.read_namespaced_deployment("web", fresh_namespace)
    body = create_run(custom, fresh_namespace, "replay", {"graph": scale_graph(), "target": TARGET})
    clock = Clock()
    engine = Engine(kube, body, clock=clock, sleep=clock.sleep)
    while not engine.run.actions:  # up to the recorded intent of the scale node
        engine.run_once()
    (key,) = engine.run.actions
    engine.run.actions[key].pop("result", None)
    checkpoint = {**copy.deepcopy(body), "status": engine.run.as_status()}
    checkpoint["status"]["currentNode"] = "scale"
    checkpoint["status"]["stepCount"] -= 1
    for _ in range(3):  # three restarts from the same checkpoint, each replaying the action
        again = Engine(kube, copy.deepcopy(checkpoint), clock=clock, sleep=clock.sleep)
        again.run_once()
    deployment = apps.read_namespaced_deployment("web", fresh_namespace)
    assert deployment.spec.replicas == 4
    assert spec_changes(api_client, before) == 1


def test_rollback_rollout_asks_the_rollout_to_abort_with_the_reason(kube, api_client, fresh_namespace):
    _, custom = setup(api_client, fresh_namespace, "web")
    rollout = yaml.safe_load((ROOT / "crds" / "samples" / "rollout.yaml").read_text())
    rollout["metadata"]["namespace"] = fresh_namespace
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "rollouts", rollout)
    spec = {
        "playbookRef": {"name": "rollback-on-error-rate"},
        "target": {"kind": "Rollout", "name": "checkout"},
        "signal": {"stream": "web-latency", "detector": "p99"},
    }
    status = run_to_end(kube, create_run(custom, fresh_namespace, "rollback", spec), Clock())
    assert status["phase"] == "Succeeded", status["message"]
    annotations = custom.get_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "rollouts", "checkout"
    )["metadata"]["annotations"]
    assert annotations[controls.ABORT] == "error rate anomaly on web-latency/p99"
    assert annotations[controls.ABORT_REQUESTED_BY] == f"{fresh_namespace}/rollback"
    assert status["outcome"]["actions"] == ["rollback:rollback-rollout"]


def test_a_prometheus_error_rate_drives_the_decision_and_the_verification(kube, api_client, fresh_namespace):
    apps, custom = setup(api_client, fresh_namespace, "web")
    prometheus = PrometheusStandIn([0.2, 0.2, 0.01])  # high before acting, then recovered
    query = {"prometheus": prometheus.url, "query": 'rate(errors_total{app="web"}[1m])', "above": 0.05}
    graph = {
        "start": "observe",
        "nodes": [
            {"name": "observe", "type": "observe", "wpk": "query-metric", "params": query, "next": "decide"},
            {
                "name": "decide",
                "type": "decide",
                "edges": [{"when": "state.anomalous", "to": "scale"}, {"to": "done"}],
            },
            {"name": "scale", "type": "act", "wpk": "scale", "params": {"replicas": 5}, "next": "verify"},
            {"name": "verify", "type": "verify", "wpk": "query-metric", "params": query, "next": "done"},
            {"name": "done", "type": "end"},
        ],
    }
    try:
        status = run_to_end(
            kube, create_run(custom, fresh_namespace, "prom", {"graph": graph, "target": TARGET}), Clock()
        )
    finally:
        prometheus.server.shutdown()
    assert status["phase"] == "Succeeded", status["message"]
    assert status["state"]["recovered"] is True and status["state"]["value"] == 0.01
    assert prometheus.queries[0] == 'rate(errors_total{app="web"}[1m])'
    assert apps.read_namespaced_deployment("web", fresh_namespace).spec.replicas == 5


def test_a_verify_node_without_a_verdict_fails_the_run_with_the_reason(kube, api_client, fresh_namespace):
    _, custom = setup(api_client, fresh_namespace, "web")
    prometheus = PrometheusStandIn([0.2])
    graph = {
        "start": "verify",
        "nodes": [
            {
                "name": "verify",
                "type": "verify",
                "wpk": "query-metric",
                "params": {"prometheus": prometheus.url, "query": "up"},
                "next": "done",
            },
            {"name": "done", "type": "end"},
        ],
    }
    try:
        status = run_to_end(kube, create_run(custom, fresh_namespace, "noverdict", {"graph": graph}), Clock())
    finally:
        prometheus.server.shutdown()
    assert status["phase"] == "Failed"
    assert "gave no verdict" in status["message"]


def refusal(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Refused")


def test_a_run_against_a_missing_target_is_refused_before_any_node_runs(kube, api_client, fresh_namespace):
    # The built-in playbook whose decide node compares state.replicas: it must never get that far.
    _, custom = setup(api_client, fresh_namespace, "web")
    target = {"kind": "Deployment", "name": "nowhere"}
    spec = {"playbookRef": {"name": "scale-out-on-latency"}, "target": target}
    status = run_to_end(kube, create_run(custom, fresh_namespace, "missing", spec), Clock())
    assert status["phase"] == "Refused" and status["steps"] == []
    assert refusal(status)["reason"] == "TargetNotFound"
    assert f"Deployment {fresh_namespace}/nowhere does not exist" in refusal(status)["message"]
    events = client.CoreV1Api(api_client).list_namespaced_event(
        fresh_namespace, field_selector="involvedObject.name=missing"
    )
    assert [(e.type, e.reason) for e in events.items] == [("Warning", "TargetNotFound")]


def test_a_target_deleted_after_admission_is_refused_when_observed_not_failed_in_decide(
    kube, api_client, fresh_namespace
):
    apps, custom = setup(api_client, fresh_namespace, "web")
    graph = scale_graph()
    spec = {"graph": graph, "target": {"kind": "Deployment", "name": "web"}}
    clock = Clock()
    engine = Engine(kube, create_run(custom, fresh_namespace, "gone", spec), clock=clock, sleep=clock.sleep)
    assert engine.run_once() and engine.run.phase == "Running"  # admitted: the target existed
    apps.delete_namespaced_deployment("web", fresh_namespace)
    engine.run_to_end()
    run = custom.get_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "agentruns", "gone")
    status = run["status"]
    assert status["phase"] == "Refused" and refusal(status)["reason"] == "TargetNotFound"
    assert "TypeError" not in status["message"]
