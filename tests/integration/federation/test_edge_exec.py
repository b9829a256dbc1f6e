"""AgentRuns act on edge nodes: the operator, the hub and the edge agent as real processes.

An ``edge-exec`` act sends one signed trigger; the agent runs an allow-listed command as a real
subprocess; ``edge-result`` records what it reported. A SIGKILLed agent never runs a trigger twice.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from tests.support import eventually
from tests.support.federation import GROUP, VERSION, Federation, condition, federation_running


@pytest.fixture(scope="module")
def federation(
    naksha_operator: int,
    control_plane: Any,
    api_client: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Federation]:
    with federation_running(control_plane, api_client, tmp_path_factory.mktemp("edge-exec")) as fed:
        eventually(lambda: condition(fed.node("edge-1"), "Ready").get("status") == "True", timeout=90)
        yield fed


def edge_run(
    name: str, command: str, args: dict[str, str] | None = None, timeout: str = "60s"
) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AgentRun",
        "metadata": {"name": name},
        "spec": {
            "target": {"apiVersion": f"{GROUP}/{VERSION}", "kind": "EdgeNode", "name": "edge-1"},
            "graph": {
                "start": "send",
                "nodes": [
                    {
                        "name": "send",
                        "type": "act",
                        "wpk": "edge-exec",
                        "params": {"wpk": "run-command", "params": {"command": command, "args": args or {}}},
                        "next": "result",
                    },
                    {
                        "name": "result",
                        "type": "observe",
                        "wpk": "edge-result",
                        "params": {"act": "send", "timeout": timeout},
                        "next": "done",
                    },
                    {"name": "done", "type": "end"},
                ],
            },
        },
    }


def finished(federation: Federation, name: str) -> dict[str, Any] | None:
    run = federation.custom.get_namespaced_custom_object(
        GROUP, VERSION, federation.namespace, "agentruns", name
    )
    status = run.get("status") or {}
    return status if status.get("phase") in ("Succeeded", "Failed") else None


def create_run(federation: Federation, body: dict[str, Any]) -> None:
    federation.custom.create_namespaced_custom_object(GROUP, VERSION, federation.namespace, "agentruns", body)


def test_an_edge_exec_act_runs_an_allow_listed_command_and_records_its_result(federation: Federation) -> None:
    create_run(federation, edge_run("greet-edge", "greet", {"name": "operator"}))
    status = eventually(lambda: finished(federation, "greet-edge"), timeout=120)
    assert status["phase"] == "Succeeded", status
    assert status["state"]["edgeOutcome"] == "Succeeded"
    assert status["state"]["edgeOutput"].strip() == "hello operator"
    (action,) = status["actions"].values()
    assert action["wpk"] == "edge-exec" and action["result"]["edge"] == "edge-1"


def test_a_sigkilled_agent_runs_a_received_trigger_at_most_once(federation: Federation) -> None:
    assert federation.agent is not None
    create_run(federation, edge_run("killed-edge", "mark-then-pause", timeout="90s"))
    marks = federation.root / "marks"
    eventually(lambda: marks.exists() and "ran" in marks.read_text(), timeout=120)
    federation.agent.signal(signal.SIGKILL)
    federation.agent.process.wait(timeout=10)  # type: ignore[union-attr]
    federation.start_agent()  # the same state directory: the same identity and ledger
    status = eventually(lambda: finished(federation, "killed-edge"), timeout=120)
    assert status["state"]["edgeOutcome"] == "Interrupted", status["state"]
    assert "not run again" in status["state"]["edgeOutput"]
    assert marks.read_text().count("ran") == 1
