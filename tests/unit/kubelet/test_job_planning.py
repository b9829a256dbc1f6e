"""The local kubelet's Job planner follows Kubernetes' Job semantics."""

from __future__ import annotations

import datetime
from typing import Any

from naksha.local.kubelet.jobs import plan_job, select_own_pods

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def job(**spec: Any) -> dict[str, Any]:
    template = {"spec": {"restartPolicy": spec.pop("restart_policy", "Never"), "containers": [{"name": "c"}]}}
    return {
        "metadata": {"name": "j", "namespace": "ns", "uid": "u-9"},
        "spec": {"template": template, **spec},
    }


def pod(
    name: str, phase: str, *, exit_code: int | None = None, finished: datetime.datetime = T0
) -> dict[str, Any]:
    statuses = []
    if exit_code is not None:
        stamp = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
        statuses = [
            {"state": {"terminated": {"exitCode": exit_code, "finishedAt": stamp}}, "restartCount": 0}
        ]
    return {"metadata": {"name": name}, "status": {"phase": phase, "containerStatuses": statuses}}


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions", [])}


def test_a_new_job_starts_as_many_pods_as_parallelism_allows():
    plan = plan_job(job(completions=5, parallelism=2), [], T0)
    assert len(plan.create) == 2
    labels = plan.create[0]["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == "j" and labels["controller-uid"] == "u-9"
    assert plan.status["startTime"] == "2026-01-01T00:00:00Z"


def test_a_job_completes_when_enough_pods_succeeded():
    plan = plan_job(
        job(completions=2), [pod("a", "Succeeded", exit_code=0), pod("b", "Succeeded", exit_code=0)], T0
    )
    assert conditions(plan.status)["Complete"]["status"] == "True"
    assert plan.status["succeeded"] == 2 and plan.status["completionTime"]
    assert not plan.create


def test_failures_beyond_the_backoff_limit_fail_the_job_with_the_reason():
    pods = [pod("a", "Failed", exit_code=1), pod("b", "Failed", exit_code=1)]
    plan = plan_job(job(backoffLimit=1), pods, T0 + datetime.timedelta(seconds=10))
    failed = conditions(plan.status)["Failed"]
    assert failed["reason"] == "BackoffLimitExceeded"
    assert plan.status["failed"] == 2 and not plan.create


def test_a_failed_pod_is_retried_only_after_the_backoff():
    pods = [pod("a", "Failed", exit_code=1, finished=T0)]
    early = plan_job(job(backoffLimit=3), pods, T0)
    assert not early.create and early.requeue_after is not None and early.requeue_after > 0
    later = plan_job(job(backoffLimit=3), pods, T0 + datetime.timedelta(seconds=2))
    assert len(later.create) == 1


def test_restarts_under_on_failure_count_against_the_backoff_limit():
    running = pod("a", "Running")
    running["status"]["containerStatuses"] = [{"restartCount": 3, "state": {"running": {}}}]
    plan = plan_job(job(backoffLimit=2, restart_policy="OnFailure"), [running], T0)
    assert conditions(plan.status)["Failed"]["reason"] == "BackoffLimitExceeded"
    assert plan.delete == ["a"]


def test_the_active_deadline_fails_a_job_that_runs_too_long():
    spec_job = job(activeDeadlineSeconds=5)
    spec_job["status"] = {"startTime": "2026-01-01T00:00:00Z"}
    plan = plan_job(spec_job, [pod("a", "Running")], T0 + datetime.timedelta(seconds=6))
    assert conditions(plan.status)["Failed"]["reason"] == "DeadlineExceeded"
    assert plan.delete == ["a"]


def test_a_finished_job_is_deleted_after_its_ttl():
    finished = job(ttlSecondsAfterFinished=30)
    finished["status"] = {
        "startTime": "2026-01-01T00:00:00Z",
        "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
    }
    waiting = plan_job(finished, [], T0 + datetime.timedelta(seconds=10))
    assert not waiting.delete_job and waiting.requeue_after == 20
    assert plan_job(finished, [], T0 + datetime.timedelta(seconds=31)).delete_job


def test_a_job_without_a_selector_selects_its_own_pods():
    defaulted = select_own_pods(job())
    assert defaulted["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-9"}}
    assert defaulted["spec"]["template"]["metadata"]["labels"]["job-name"] == "j"
