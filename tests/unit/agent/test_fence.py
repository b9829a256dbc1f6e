"""The namespace fence of AgentRuns: every namespace a run touches, and the refusals when one is outside."""

from __future__ import annotations

from typing import Any

import pytest

from naksha.controllers.agentrun import fence, guardrails
from naksha.controllers.agentrun.playbooks import PlaybookError, validate
from naksha.controllers.agentrun.wpk import lookup
from naksha.models.agentrun import AgentRunSpec, Graph
from naksha.settings import OperatorSettings


def spec(**fields: Any) -> AgentRunSpec:
    fields.setdefault("playbookRef", {"name": "scale-out-on-latency"})
    return AgentRunSpec.model_validate(fields)


def stream_graph(stream_namespace: str) -> Graph:
    return Graph.model_validate(
        {
            "start": "look",
            "nodes": [
                {
                    "name": "look",
                    "type": "observe",
                    "wpk": "query-metric",
                    "params": {"stream": "s", "detector": "d", "streamNamespace": stream_namespace},
                    "next": "scale",
                },
                {"name": "scale", "type": "act", "wpk": "scale", "params": {"delta": 1}, "next": "done"},
                {"name": "done", "type": "end"},
            ],
        }
    )


class TestWhatARunReaches:
    def test_a_plain_run_reaches_only_its_own_namespace(self):
        reached = fence.reach("a", spec(target={"kind": "Deployment", "name": "web"}))
        assert set(reached) == {"a"}
        assert fence.CREATE_RUNS in reached["a"].access

    def test_the_target_playbooks_and_fallbacks_namespaces_are_reached(self):
        reached = fence.reach(
            "a",
            spec(
                target={"kind": "Deployment", "name": "web", "namespace": "b"},
                playbookRef={"name": "p", "namespace": "c"},
                fallbacks=[{"name": "q", "namespace": "d"}],
            ),
        )
        assert set(reached) == {"a", "b", "c", "d"}
        assert reached["c"].why == ["spec.playbookRef"]
        assert fence.READ_PLAYBOOKS in reached["d"].access

    def test_a_namespace_named_by_a_wpk_parameter_is_reached_with_the_access_it_needs(self):
        reached = fence.reach("a", spec(), [stream_graph("monitoring")])
        assert reached["monitoring"].why == ["node look: streamNamespace"]
        assert fence.Access("get", "naksha.io", "insightstreams") in reached["monitoring"].access

    def test_acting_nodes_need_their_packages_rbac_for_the_targets_kind_only(self):
        target = {"kind": "Deployment", "name": "web"}
        reached = fence.reach("a", spec(target=target), [stream_graph("a")])
        assert fence.Access("patch", "apps", "deployments") in reached["a"].access
        assert not any(access.resource == "rollouts" for access in reached["a"].access)

    def test_the_target_kind_rule_of_a_package_becomes_the_targets_resource(self):
        target = spec(target={"kind": "ConfigMap", "name": "settings"}).target
        assert fence.rules(lookup("annotate"), target) == {
            fence.Access("get", "", "configmaps"),
            fence.Access("patch", "", "configmaps"),
        }


class TestTheFence:
    def test_a_target_in_another_namespace_is_refused_whatever_the_fence(self):
        run = spec(target={"kind": "Deployment", "name": "web", "namespace": "b"})
        with pytest.raises(guardrails.Refusal, match="acts only in its own namespace") as refused:
            fence.check("a", fence.reach("a", run), allowed=None, target=run.target)
        assert refused.value.reason == "CrossNamespaceTarget"

    def test_a_target_naming_the_runs_own_namespace_is_accepted(self):
        run = spec(target={"kind": "Deployment", "name": "web", "namespace": "a"})
        fence.check("a", fence.reach("a", run), allowed=frozenset({"a"}), target=run.target)

    def test_a_playbook_outside_the_callers_fence_is_refused_naming_the_field(self):
        run = spec(playbookRef={"name": "p", "namespace": "b"})
        with pytest.raises(guardrails.Refusal, match=r"'b' \(spec.playbookRef\) is outside"):
            fence.check("a", fence.reach("a", run), allowed=None, caller=frozenset({"a"}))

    def test_a_namespace_the_operator_does_not_allow_is_refused_even_for_an_unfenced_caller(self):
        with pytest.raises(guardrails.Refusal, match="not one this operator lets runs reach") as refused:
            fence.check("a", fence.reach("a", spec(), [stream_graph("b")]), allowed=frozenset({"a"}))
        assert refused.value.reason == "NamespaceNotAllowed"

    def test_the_operators_allowed_namespaces_fall_back_to_those_it_serves(self):
        assert fence.allowed_namespaces(OperatorSettings()) is None
        assert fence.allowed_namespaces(OperatorSettings(namespaces=("a", "b"))) == {"a", "b"}
        assert fence.allowed_namespaces(OperatorSettings(namespaces=("a", "b"), agent_namespaces=("a",))) == {
            "a"
        }

    def test_the_engine_checks_rendered_namespace_parameters_before_a_node_runs(self):
        settings = OperatorSettings(agent_namespaces=("a", "monitoring"))
        package = lookup("query-metric")
        fence.enforce_params(settings, "a", "look", package, {"streamNamespace": "monitoring"})
        with pytest.raises(guardrails.Refusal, match="streamNamespace='b'"):
            fence.enforce_params(settings, "a", "look", package, {"streamNamespace": "b"})


def test_a_namespace_parameter_must_be_a_literal_so_the_fence_is_known_before_the_run():
    graph = stream_graph("${inputs.where}")
    with pytest.raises(PlaybookError, match="streamNamespace must be a literal namespace name"):
        validate(graph)


def test_a_target_of_a_kind_naksha_does_not_manage_is_refused_before_anything_else():
    with pytest.raises(guardrails.Refusal, match="does not manage Widget") as refused:
        fence.reach("a", spec(target={"kind": "Widget", "name": "w", "apiVersion": "example.com/v1"}))
    assert refused.value.reason == "KindNotAllowed"


def test_an_act_node_whose_package_cannot_act_on_the_targets_kind_is_named():
    restart = Graph.model_validate(
        {
            "start": "r",
            "nodes": [
                {"name": "r", "type": "act", "wpk": "restart", "next": "e"},
                {"name": "e", "type": "end"},
            ],
        }
    )
    rollout = spec(target={"kind": "Rollout", "name": "web"}).target
    deployment = spec(target={"kind": "Deployment", "name": "web"}).target
    assert fence.target_problems([restart], rollout) == [
        "node r: restart acts on deployments, not on the target's Rollout"
    ]
    assert fence.target_problems([restart], deployment) == []
    assert fence.target_problems([stream_graph("a")], rollout) == []  # scale acts on Deployments and Rollouts
