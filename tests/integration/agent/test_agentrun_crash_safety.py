"""An operator killed in the middle of an act step resumes the run and acts exactly once.

The operator runs as ``naksha operator`` in its own process group; a kill takes the whole group.
The rate window on each target (``naksha.io/agent-actions``) must count each action once too.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

from kubernetes import client
from tests.support import eventually, spec_changes
from tests.support.agentruns import agent_run, anomaly, deployment, run_status, scale_graph, setup, stream
from tests.support.operators import kill_group, start_operator

from naksha.models.group import GROUP, VERSION
from naksha.models.labels import RECENT_ACTIONS


def test_a_run_killed_between_its_intent_and_its_action_acts_once_after_a_restart(
    control_plane, api_client, naksha_crds, fresh_namespace, tmp_path: Path
):
    apps, custom = setup(api_client, fresh_namespace, "web")
    before = apps.read_namespaced_deployment("web", fresh_namespace)
    log = tmp_path / "operator.log"
    first = start_operator(
        control_plane.kubeconfig_path, fresh_namespace, log, NAKSHA_CRASH_POINT="agentrun.before-apply"
    )
    try:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, fresh_namespace, "agentruns", agent_run("r", "web")
        )
        assert first.wait(timeout=120) == -signal.SIGKILL  # at its crash point
    finally:
        kill_group(first)
    actions = run_status(custom, fresh_namespace, "r").get("actions") or {}
    intent = next(a for a in actions.values() if "plan" in a and "result" not in a)
    assert intent["plan"] == {"previous": 2, "replicas": 4}
    assert apps.read_namespaced_deployment("web", fresh_namespace).spec.replicas == 2  # nothing happened yet

    second = start_operator(control_plane.kubeconfig_path, fresh_namespace, log)
    try:
        eventually(
            lambda: apps.read_namespaced_deployment("web", fresh_namespace).spec.replicas == 4, timeout=60
        )
        anomaly(custom, fresh_namespace, age=600)
        eventually(lambda: run_status(custom, fresh_namespace, "r").get("phase") == "Succeeded", timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    # The Deployment's spec changed exactly once, and one action is recorded.
    assert spec_changes(api_client, before) == 1
    status = run_status(custom, fresh_namespace, "r")
    assert len(status["actions"]) == 1 and next(iter(status["actions"].values()))["result"]["replicas"] == 4


def test_runs_killed_at_random_moments_each_act_once_and_count_once_in_the_rate_window(
    control_plane, api_client, naksha_crds, fresh_namespace, tmp_path: Path
):
    seed = int(os.environ.get("NAKSHA_TEST_SEED") or random.randrange(1 << 30))
    print(f"seed {seed} (NAKSHA_TEST_SEED={seed} repeats it)")
    rng = random.Random(seed)
    apps, custom = client.AppsV1Api(api_client), client.CustomObjectsApi(api_client)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "insightstreams", stream("web-latency")
    )
    anomaly(custom, fresh_namespace, age=0)
    wanted: dict[str, int] = {}
    created: dict[str, Any] = {}  # each Deployment as first read, to count its spec changes from

    def start_runs(numbers: range) -> None:
        """Runs on their own Deployments: half relative (+2), half absolute (5)."""
        for number in numbers:
            name = f"web{number}"
            apps.create_namespaced_deployment(fresh_namespace, deployment(name))
            created[name] = apps.read_namespaced_deployment(name, fresh_namespace)
            graph = scale_graph()
            if number % 2:  # a replay must change neither twice
                graph["nodes"][2]["params"] = {"replicas": 5}
            wanted[name] = 5 if number % 2 else 4
            run = agent_run(f"run{number}", name)
            run["spec"]["graph"] = graph
            custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "agentruns", run)

    log = tmp_path / "operator.log"
    kubeconfig = control_plane.kubeconfig_path
    start_runs(range(4))
    operator = start_operator(kubeconfig, fresh_namespace, log)
    try:
        for kill in range(6):  # new runs keep arriving, so kills land in every phase of a run
            start_runs(range(4 + 2 * kill, 6 + 2 * kill))
            time.sleep(rng.uniform(0.0, 2.5))
            kill_group(operator)
            operator = start_operator(kubeconfig, fresh_namespace, log)

        def replicas() -> dict[str, int]:
            return {
                name: apps.read_namespaced_deployment(name, fresh_namespace).spec.replicas for name in wanted
            }

        eventually(lambda: replicas() == wanted, timeout=90)
        anomaly(custom, fresh_namespace, age=600)

        def phases() -> set[str]:
            return {run_status(custom, fresh_namespace, f"run{n}").get("phase") for n in range(len(wanted))}

        eventually(lambda: phases() == {"Succeeded"}, timeout=60)
    finally:
        operator.send_signal(signal.SIGTERM)
        operator.wait(timeout=30)
    for number, name in enumerate(wanted):
        deployed = apps.read_namespaced_deployment(name, fresh_namespace)
        assert deployed.spec.replicas == wanted[name], f"seed {seed}"
        assert spec_changes(api_client, created[name]) == 1, f"seed {seed}: {name} changed twice"
        actions = run_status(custom, fresh_namespace, f"run{number}")["actions"]
        window = json.loads(deployed.metadata.annotations[RECENT_ACTIONS])
        assert list(window) == list(actions), (
            f"seed {seed}: {name}'s rate window {window} for actions {list(actions)}"
        )
