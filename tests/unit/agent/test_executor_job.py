"""The executor Job: what its pod runs and inherits, and when the operator reads it as given up."""

from __future__ import annotations

from naksha.controllers.agentrun.executor import job_failure
from naksha.workloads.agent import build_executor_job


def test_the_job_runs_the_engine_for_one_run_with_the_operators_guardrails():
    job = build_executor_job(
        run="r",
        namespace="prod",
        image="ghcr.io/naksha-io/naksha:1",
        settings_env={"NAKSHA_AGENT_RATE_LIMIT": "3", "NAKSHA_KILL_SWITCH": "", "HOME": "/root"},
        service_account="naksha-agent",
        deadline_seconds=900,
    )
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["agent-run", "r", "--namespace", "prod"]
    assert container["env"] == [{"name": "NAKSHA_AGENT_RATE_LIMIT", "value": "3"}]  # no unrelated variables
    assert pod["serviceAccountName"] == "naksha-agent"
    assert pod["restartPolicy"] == "Never"
    assert job["spec"]["activeDeadlineSeconds"] == 900
    assert job["metadata"]["name"] == "r-run"


def test_a_long_run_name_still_gives_a_valid_job_name():
    name = build_executor_job(run="x" * 63, namespace="n", image="i", settings_env={})["metadata"]["name"]
    assert len(name) <= 63 and name.endswith("-run")


def test_only_a_failed_condition_means_the_job_gave_up():
    running: dict[str, object] = {"status": {"active": 1}}
    failed = {
        "status": {
            "conditions": [
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "5 pods"}
            ]
        }
    }
    assert job_failure(running) is None
    assert job_failure(failed) == "BackoffLimitExceeded: 5 pods"
