"""Executor ``job``: a Job pod runs the graph; killed mid-action, its retry acts exactly once."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from tests.support import eventually, spec_changes
from tests.support.agentruns import agent_run, anomaly, run_status, setup

from naksha.models.group import GROUP, VERSION

WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # a naksha image: the local kubelet runs it as a process
# Inherited by the Job pod: it dies (SIGKILL) between recording an action's intent and applying it.
# The operator runs inside pytest here: only runs with executor "job" may reach the point.
OPERATOR_ENV = {"NAKSHA_CRASH_POINT": "agentrun.before-apply"}


def engine_pods(core: client.CoreV1Api, namespace: str) -> list[Any]:
    return list(core.list_namespaced_pod(namespace, label_selector="naksha.io/agent-run=r").items)


def test_a_job_pod_killed_mid_action_is_retried_and_the_action_runs_once(
    naksha_operator, api_client, fresh_namespace
):
    apps, custom = setup(api_client, fresh_namespace, "web")
    core, batch = client.CoreV1Api(api_client), client.BatchV1Api(api_client)
    before = apps.read_namespaced_deployment("web", fresh_namespace)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "agentruns", agent_run("r", "web", executor="job")
    )

    # The first Job pod records the action's intent and dies at its crash point (SIGKILL); the
    # Job's next pod may apply the intent at once, so the plan is read whether or not it has.
    eventually(lambda: "Failed" in [p.status.phase for p in engine_pods(core, fresh_namespace)], timeout=120)
    (action,) = (run_status(custom, fresh_namespace, "r").get("actions") or {}).values()
    assert action["plan"] == {"previous": 2, "replicas": 4}
    job = batch.read_namespaced_job("r-run", fresh_namespace)
    assert job.metadata.owner_references[0].kind == "AgentRun"
    assert job.spec.template.spec.containers[0].args == ["agent-run", "r", "--namespace", fresh_namespace]
    assert job.spec.template.spec.service_account_name == "r-run"
    assert run_status(custom, fresh_namespace, "r")["job"] == "r-run"

    # The first pod died at its crash point; the Job starts a second one, which finds the recorded
    # intent and applies it (the crash point is only on the path that records a new intent).
    eventually(lambda: apps.read_namespaced_deployment("web", fresh_namespace).spec.replicas == 4, timeout=60)
    anomaly(custom, fresh_namespace, age=600)
    eventually(lambda: run_status(custom, fresh_namespace, "r").get("phase") == "Succeeded", timeout=60)

    eventually(
        lambda: sorted(p.status.phase for p in engine_pods(core, fresh_namespace)) == ["Failed", "Succeeded"]
    )
    assert spec_changes(api_client, before) == 1
    status = run_status(custom, fresh_namespace, "r")
    assert [step["node"] for step in status["steps"]] == ["observe", "decide", "scale", "verify", "done"]
    assert len(status["actions"]) == 1
    assert status["outcome"]["resolved"] is True
    eventually(lambda: batch.read_namespaced_job("r-run", fresh_namespace).status.succeeded == 1)
