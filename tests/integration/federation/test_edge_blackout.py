"""The ChaosExperiment fault ``edge-blackout`` with the real operator, hub and edge agent processes.

The operator annotates the EdgeNode, the hub refuses its heartbeats (503), the node goes Unknown
after ``offlineAfter`` (4 s here), and the restore lifts the blackout so it comes back Ready; the
verdict checks both. An operator SIGKILLed while the blackout is in place restores it exactly
once after a restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from tests.support import eventually
from tests.support.chaos import Chaos, experiment
from tests.support.federation import Federation, condition, federation_running
from tests.support.operators import kill_group, start_operator

from naksha.models.labels import BLACKOUT_ANNOTATION


@pytest.fixture(scope="module")
def federation(
    control_plane: Any,
    naksha_crds: None,
    api_client: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Federation]:
    with federation_running(control_plane, api_client, tmp_path_factory.mktemp("blackout")) as fed:
        fed.core.patch_namespace(fed.namespace, {"metadata": {"labels": {"naksha.io/chaos": "enabled"}}})
        yield fed


@pytest.fixture
def ready_node(federation: Federation) -> Federation:
    eventually(lambda: ready(federation), timeout=90)
    return federation


def ready(federation: Federation) -> bool:
    return condition(federation.node("edge-1"), "Ready").get("status") == "True"


def blacked_out(federation: Federation) -> bool:
    return BLACKOUT_ANNOTATION in (federation.node("edge-1")["metadata"].get("annotations") or {})


def blackout(name: str, duration: str, budget: str) -> dict[str, Any]:
    return experiment(
        name,
        target={"kind": "EdgeNode", "selector": {}, "mode": "all"},
        fault={"type": "edge-blackout", "params": {"edgeNode": "edge-1"}},
        duration=duration,
        expectedRemediation={"mttrBudget": budget},
    )


def restores(chaos: Chaos, name: str) -> list[dict[str, Any]]:
    return [entry for entry in chaos.status(name)["journal"] if entry["activity"] == "restore"]


def test_the_node_goes_unknown_during_the_blackout_and_comes_back_ready(
    ready_node: Federation, control_plane: Any, api_client: client.ApiClient, tmp_path: Path
) -> None:
    fed, chaos = ready_node, Chaos(api_client, ready_node.namespace)
    log = tmp_path / "operator.log"
    operator = start_operator(control_plane.kubeconfig_path, fed.namespace, log)
    try:
        chaos.create(blackout("blackout", "8s", "40s"))
        eventually(lambda: blacked_out(fed), timeout=90)
        unknown = eventually(
            lambda: (c := condition(fed.node("edge-1"), "Ready")).get("status") == "Unknown" and c, timeout=30
        )
        verdict = chaos.verdict("blackout", timeout=120)
    finally:
        kill_group(operator)
    assert unknown["reason"] == "HeartbeatMissed"
    assert verdict["verdict"] == "Passed", (verdict, log.read_text()[-3000:])
    assert not blacked_out(fed) and ready(fed)
    assert "HeartbeatBlackout" in fed.hub.output()  # type: ignore[union-attr]
    (restored,) = restores(chaos, "blackout")
    assert "accepted again" in restored["message"]


def test_a_blackout_shorter_than_offline_after_fails_its_verdict(
    ready_node: Federation, control_plane: Any, api_client: client.ApiClient, tmp_path: Path
) -> None:
    fed, chaos = ready_node, Chaos(api_client, ready_node.namespace)
    log = tmp_path / "operator.log"
    operator = start_operator(control_plane.kubeconfig_path, fed.namespace, log)
    try:
        chaos.create(blackout("brief", "1s", "6s"))
        verdict = chaos.verdict("brief", timeout=120)
    finally:
        kill_group(operator)
    assert verdict["verdict"] == "Failed", verdict
    assert "never went Unknown" in verdict["reason"]
    assert not blacked_out(fed)


def test_an_operator_killed_during_the_blackout_restores_it_once_after_a_restart(
    ready_node: Federation, control_plane: Any, api_client: client.ApiClient, tmp_path: Path
) -> None:
    fed, chaos = ready_node, Chaos(api_client, ready_node.namespace)
    log = tmp_path / "operator.log"
    first = start_operator(control_plane.kubeconfig_path, fed.namespace, log)
    try:
        chaos.create(blackout("killed", "6s", "60s"))
        run = chaos.stage("killed", "Injected", timeout=90)
    finally:
        kill_group(first)
    token = run["restore"][0]["injectedValue"]  # the intent, recorded before the fault
    assert fed.node("edge-1")["metadata"]["annotations"][BLACKOUT_ANNOTATION] == token
    # Nobody lifts it while no operator runs: the node stays blacked out and goes Unknown.
    eventually(lambda: condition(fed.node("edge-1"), "Ready").get("status") == "Unknown", timeout=30)
    time.sleep(2)
    assert blacked_out(fed)

    second = start_operator(control_plane.kubeconfig_path, fed.namespace, log)
    try:
        verdict = chaos.verdict("killed", timeout=120)
    finally:
        kill_group(second)
    assert verdict["verdict"] == "Passed", (verdict, log.read_text()[-3000:])
    assert not blacked_out(fed) and ready(fed)
    (restored,) = restores(chaos, "killed")
    assert "accepted again" in restored["message"]
