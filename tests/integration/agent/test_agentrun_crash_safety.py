"""An operator killed in the middle of an act step resumes the run and acts exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.agent.test_agentrun_on_the_control_plane import (
    GROUP,
    VERSION,
    agent_run,
    anomaly,
    run_status,
    setup,
)
from tests.support import ROOT, eventually, free_port, spec_changes


def start_operator(kubeconfig: Path, namespace: str, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": str(ROOT / "operator"),
        "NAKSHA_METRICS_PORT": str(free_port()),
        "NAKSHA_HEALTH_PORT": str(free_port()),
        "NAKSHA_IMAGE": "example.com/simulated-worker:1",
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "naksha", "operator", "--namespace", namespace],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def test_a_run_killed_between_its_intent_and_its_action_acts_once_after_a_restart(
    control_plane, api_client, naksha_crds, fresh_namespace, tmp_path: Path
):
    apps, custom = setup(api_client, fresh_namespace, "web")
    before = apps.read_namespaced_deployment("web", fresh_namespace)
    log = tmp_path / "operator.log"
    first = start_operator(
        control_plane.kubeconfig_path, fresh_namespace, log, NAKSHA_AGENT_TEST_PAUSE_BEFORE_APPLY="60"
    )
    try:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, fresh_namespace, "agentruns", agent_run("r", "web")
        )

        def intent_recorded() -> dict[str, Any] | None:
            actions = run_status(custom, fresh_namespace, "r").get("actions") or {}
            return next((a for a in actions.values() if "plan" in a and "result" not in a), None)

        intent = eventually(intent_recorded, timeout=60)
        assert intent["plan"] == {"previous": 2, "replicas": 4}
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
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
