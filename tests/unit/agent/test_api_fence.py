"""POST /agent/run refuses, with 403 and the reason, any run that would reach outside its fence.

The real HTTP API (aiohttp, on loopback) over an in-memory Kubernetes API: each path a namespace
can take into a run — the run's own, ``target``, a whole ``spec`` body, a playbook's parameters,
fallbacks — plus a property test over generated bodies that no accepted request reaches
outside the caller's fence or the operator's allowed namespaces, and nothing is created when
refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tests.support.agent_api import SECRET, ServedApi
from tests.support.fakes import MemoryKube, playbook_config_map

from naksha.controllers.agentrun import api, fence
from naksha.controllers.agentrun.api_auth import SharedSecretGate
from naksha.domain.agentrun import tokens
from naksha.models.agentrun import AgentRunSpec
from naksha.settings import OperatorSettings

ALLOWED = frozenset({"agent-a", "agent-b"})  # NAKSHA_AGENT_NAMESPACES; agent-c is served but excluded
NAMESPACES = ["agent-a", "agent-b", "agent-c"]


def peek_graph(stream_namespace: str) -> dict[str, Any]:
    return {
        "start": "look",
        "nodes": [
            {
                "name": "look",
                "type": "observe",
                "wpk": "query-metric",
                "params": {"stream": "s", "detector": "d", "streamNamespace": stream_namespace},
                "next": "done",
            },
            {"name": "done", "type": "end"},
        ],
    }


def playbooks() -> dict[tuple[str, str, str], dict[str, Any]]:
    """In every namespace, ``peek-<x>`` is a playbook whose parameters reach namespace agent-<x>."""
    found = {}
    for namespace in NAMESPACES:
        for other in NAMESPACES:
            name = f"peek-{other[-1]}"
            text = yaml.safe_dump(peek_graph(other))
            found[("configmaps", namespace, name)] = playbook_config_map(namespace, name, text)
    return found


@pytest.fixture(scope="module")
def kube() -> MemoryKube:
    return MemoryKube(playbooks())


@pytest.fixture(scope="module")
def served(kube: MemoryKube) -> Iterator[ServedApi]:
    server = ServedApi(api.AgentApi(kube, SharedSecretGate(SECRET), allowed=ALLOWED))
    yield server
    server.close()


def post(served: ServedApi, body: dict[str, Any], fenced_to: list[str] | None = None) -> requests.Response:
    token = tokens.mint(SECRET, "ci", namespaces=fenced_to)
    return requests.post(
        f"{served.base}/agent/run", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


WEB = {"kind": "Deployment", "name": "web"}


class TestEveryPathIntoARunIsFenced:
    def test_a_target_in_another_namespace_is_refused_and_nothing_is_created(self, served, kube):
        before = len(kube.created)
        body = {
            "namespace": "agent-a",
            "playbook": "scale-out-on-latency",
            "target": {**WEB, "namespace": "agent-b"},
        }
        answer = post(served, body, fenced_to=["agent-a"])
        assert answer.status_code == 403
        assert "acts only in its own namespace" in answer.json()["error"]
        assert answer.headers["X-Naksha-Reason"] == "CrossNamespaceTarget"
        assert len(kube.created) == before

    def test_the_same_target_inside_a_whole_spec_body_is_refused(self, served, kube):
        before = len(kube.created)
        spec = {"playbookRef": {"name": "scale-out-on-latency"}, "target": {**WEB, "namespace": "agent-b"}}
        answer = post(served, {"namespace": "agent-a", "spec": spec}, fenced_to=["agent-a"])
        assert answer.status_code == 403
        assert len(kube.created) == before

    def test_a_namespace_the_operator_excludes_is_refused_before_anything_is_created(self, served, kube):
        before = len(kube.created)
        answer = post(served, {"namespace": "agent-c", "playbook": "scale-out-on-latency", "target": WEB})
        assert answer.status_code == 403
        assert "agent-c" in answer.json()["error"]
        assert len(kube.created) == before

    def test_a_playbook_whose_parameters_name_another_namespace_is_refused(self, served, kube):
        before = len(kube.created)
        answer = post(served, {"namespace": "agent-a", "playbook": "peek-b"}, fenced_to=["agent-a"])
        assert answer.status_code == 403
        assert "'agent-b' (node look: streamNamespace) is outside" in answer.json()["error"]
        assert len(kube.created) == before

    def test_an_inline_graph_naming_an_excluded_namespace_is_refused(self, served, kube):
        answer = post(served, {"namespace": "agent-a", "spec": {"graph": peek_graph("agent-c")}})
        assert answer.status_code == 403
        assert "not one this operator lets runs reach" in answer.json()["error"]

    def test_a_fallback_playbook_read_from_outside_the_fence_is_refused(self, served, kube):
        spec = {"playbookRef": {"name": "peek-a"}, "fallbacks": [{"name": "peek-a", "namespace": "agent-b"}]}
        answer = post(served, {"namespace": "agent-a", "spec": spec}, fenced_to=["agent-a"])
        assert answer.status_code == 403
        assert "spec.fallbacks[0]" in answer.json()["error"]

    def test_a_run_inside_its_fence_is_created(self, served, kube):
        answer = post(
            served, {"namespace": "agent-a", "playbook": "peek-b"}, fenced_to=["agent-a", "agent-b"]
        )
        assert answer.status_code == 201, answer.text

    def test_an_unknown_playbook_is_a_400_with_the_reason(self, served):
        answer = post(served, {"namespace": "agent-a", "playbook": "nope"})
        assert answer.status_code == 400
        assert "no playbook 'nope'" in answer.json()["error"]


# --- the property: no accepted request reaches outside its fence -------------------------------

names = st.sampled_from(["agent-a", "agent-a", "agent-a", "agent-b", "agent-c"])  # mostly in bounds
targets = st.fixed_dictionaries(
    {"kind": st.just("Deployment"), "name": st.just("web")}, optional={"namespace": names}
)
refs = st.fixed_dictionaries(
    {"name": st.sampled_from(["scale-out-on-latency", "peek-a", "peek-b", "peek-c"])},
    optional={"namespace": names},
)
specs = st.fixed_dictionaries(
    {},
    optional={
        "playbookRef": refs,
        "graph": names.map(peek_graph),
        "fallbacks": st.lists(refs, max_size=2),
        "target": targets,
        "inputs": st.dictionaries(st.sampled_from(["namespace", "step"]), names),
    },
)
bodies = st.fixed_dictionaries(
    {"namespace": names},
    optional={
        "playbook": st.sampled_from(["scale-out-on-latency", "peek-a", "peek-b", "peek-c"]),
        "target": targets,
        "spec": specs,
    },
)
fences = st.one_of(st.none(), st.lists(names, unique=True), st.just(["agent-a"]))


def touched(run: dict[str, Any], kube: MemoryKube) -> set[str]:
    """Every namespace the created run can touch, worked out from the object alone."""
    namespace = run["metadata"]["namespace"]
    spec = run["spec"]
    found = {namespace}
    if (spec.get("target") or {}).get("namespace"):
        found.add(spec["target"]["namespace"])
    graphs = [spec["graph"]] if "graph" in spec else []
    for ref in [spec.get("playbookRef"), *spec.get("fallbacks", [])]:
        if ref is None:
            continue
        where = ref.get("namespace") or namespace
        found.add(where)
        config_map = kube.objects.get(("configmaps", where, ref["name"]))
        if config_map is not None:
            graphs.append(yaml.safe_load(config_map["data"]["playbook.yaml"]))
    for graph in graphs:
        for node in graph["nodes"]:
            if "streamNamespace" in node.get("params", {}):
                found.add(node["params"]["streamNamespace"])
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, fenced_to=fences)
def test_no_accepted_request_reaches_outside_the_callers_fence_or_the_operators(
    served, kube, body, fenced_to
):
    before = len(kube.created)
    answer = post(served, body, fenced_to=fenced_to)
    assert answer.status_code in (201, 400, 403), answer.text
    event(f"answered {answer.status_code}")
    if answer.status_code != 201:
        assert len(kube.created) == before, "a refused request created a run"
        return
    run = kube.created[-1]
    reached = touched(run, kube)
    assert reached <= ALLOWED
    if fenced_to is not None:
        assert reached <= set(fenced_to)
    target_namespace = (run["spec"].get("target") or {}).get("namespace")
    assert target_namespace in (None, run["metadata"]["namespace"])
    # The engine, holding the run to NAKSHA_AGENT_NAMESPACES again, agrees.
    spec = AgentRunSpec.model_validate(run["spec"])
    fence.enforce(OperatorSettings(agent_namespaces=tuple(ALLOWED)), run["metadata"]["namespace"], spec)
