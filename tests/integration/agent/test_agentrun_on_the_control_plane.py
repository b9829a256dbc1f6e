"""AgentRuns act on real objects of the local control plane, within their guardrails."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from kubernetes import client
from tests.support import ROOT, event_reasons, eventually
from tests.support.agentruns import agent_run, anomaly, run_status, scale_graph, setup

from naksha.controllers.agentrun.engine import POLL_SECONDS

GROUP, VERSION = "naksha.io", "v1alpha1"
# One action per target per minute: the second run on a target is refused.
OPERATOR_ENV = {"NAKSHA_AGENT_RATE_LIMIT": "1", "NAKSHA_AGENT_RATE_WINDOW": "60"}


def test_a_run_scales_a_deployment_and_verifies_the_recovery(naksha_operator, api_client, fresh_namespace):
    apps, custom = setup(api_client, fresh_namespace, "web")
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "agentruns", agent_run("r1", "web")
    )
    eventually(lambda: apps.read_namespaced_deployment("web", fresh_namespace).spec.replicas == 4, timeout=30)
    anomaly(custom, fresh_namespace, age=600)  # the detector calms down after the scale-out
    status = eventually(
        lambda: (s := run_status(custom, fresh_namespace, "r1")).get("phase") == "Succeeded" and s, timeout=30
    )
    assert [step["node"] for step in status["steps"]] == ["observe", "decide", "scale", "verify", "done"]
    (action,) = status["actions"].values()
    assert action["plan"] == {"previous": 2, "replicas": 4} and action["result"]["replicas"] == 4
    outcome = status["outcome"]
    assert outcome["resolved"] is True and outcome["actions"] == ["scale:scale"]
    assert outcome["timeToRecoverSeconds"] is not None
    # The lock is released (its own write, just after the run's last status).
    eventually(
        lambda: (
            "naksha.io/agent-run"
            not in (apps.read_namespaced_deployment("web", fresh_namespace).metadata.annotations or {})
        )
    )


def test_a_dry_run_plans_but_changes_nothing(naksha_operator, api_client, fresh_namespace):
    apps, custom = setup(api_client, fresh_namespace, "dry")
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "agentruns", agent_run("r2", "dry", dryRun=True)
    )
    status = eventually(
        lambda: (
            (s := run_status(custom, fresh_namespace, "r2")).get("phase") in ("Succeeded", "Failed") and s
        ),
        timeout=30,
    )
    (action,) = status["actions"].values()
    assert action["dryRun"] is True and action["plan"]["replicas"] == 4
    assert apps.read_namespaced_deployment("dry", fresh_namespace).spec.replicas == 2


def test_a_run_waits_for_approval_then_acts(naksha_operator, api_client, fresh_namespace, control_plane):
    apps, custom = setup(api_client, fresh_namespace, "gated")
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "agentruns", agent_run("r3", "gated", approval={"required": True})
    )
    eventually(
        lambda: run_status(custom, fresh_namespace, "r3").get("phase") == "AwaitingApproval", timeout=30
    )
    # A negative check: over two more checks of the gate (POLL_SECONDS apart) nothing is scaled.
    time.sleep(2 * POLL_SECONDS)
    assert apps.read_namespaced_deployment("gated", fresh_namespace).spec.replicas == 2
    approved = subprocess.run(
        [sys.executable, "-m", "naksha", "agent", "approve", "r3", "-n", fresh_namespace],
        env={
            **os.environ,
            "KUBECONFIG": str(control_plane.kubeconfig_path),
            "PYTHONPATH": str(ROOT / "operator"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert approved.returncode == 0, approved.stderr
    eventually(
        lambda: apps.read_namespaced_deployment("gated", fresh_namespace).spec.replicas == 4, timeout=30
    )


def test_a_rejected_run_ends_without_acting(naksha_operator, api_client, fresh_namespace):
    apps, custom = setup(api_client, fresh_namespace, "nope")
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "agentruns", agent_run("r4", "nope", approval={"required": True})
    )
    eventually(
        lambda: run_status(custom, fresh_namespace, "r4").get("phase") == "AwaitingApproval", timeout=30
    )
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        fresh_namespace,
        "agentruns",
        "r4",
        {"metadata": {"annotations": {"naksha.io/approval": "rejected"}}},
    )
    eventually(lambda: run_status(custom, fresh_namespace, "r4").get("phase") == "Rejected", timeout=30)
    assert apps.read_namespaced_deployment("nope", fresh_namespace).spec.replicas == 2


def test_a_second_run_over_the_rate_limit_is_refused_with_the_reason(
    naksha_operator, api_client, fresh_namespace
):
    apps, custom = setup(api_client, fresh_namespace, "busy")
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "agentruns", agent_run("first", "busy")
    )
    eventually(
        lambda: apps.read_namespaced_deployment("busy", fresh_namespace).spec.replicas == 4, timeout=30
    )
    anomaly(custom, fresh_namespace, age=600)
    eventually(lambda: run_status(custom, fresh_namespace, "first").get("phase") == "Succeeded", timeout=30)
    anomaly(custom, fresh_namespace, age=0)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "agentruns", agent_run("second", "busy")
    )
    status = eventually(
        lambda: (s := run_status(custom, fresh_namespace, "second")).get("phase") == "Refused" and s,
        timeout=30,
    )
    refused = next(c for c in status["conditions"] if c["type"] == "Refused")
    assert refused["reason"] == "RateLimited" and "limit 1" in refused["message"]
    assert apps.read_namespaced_deployment("busy", fresh_namespace).spec.replicas == 4
    core = client.CoreV1Api(api_client)
    eventually(lambda: "RateLimited" in event_reasons(core, fresh_namespace, "second"), timeout=15)


def test_a_run_that_cannot_recover_reverts_its_actions(naksha_operator, api_client, fresh_namespace):
    apps, custom = setup(api_client, fresh_namespace, "stuck")
    graph = scale_graph()
    graph["nodes"][3]["timeout"] = "2s"
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        fresh_namespace,
        "agentruns",
        {
            **agent_run("r5", "stuck"),
            "spec": {"graph": graph, "target": {"kind": "Deployment", "name": "stuck"}},
        },
    )
    status = eventually(
        lambda: (s := run_status(custom, fresh_namespace, "r5")).get("phase") == "Failed" and s, timeout=40
    )
    assert status["state"]["recovered"] is False and status["state"]["reverted"] == ["scale:scale"]
    assert status["outcome"]["resolved"] is False
    assert apps.read_namespaced_deployment("stuck", fresh_namespace).spec.replicas == 2
