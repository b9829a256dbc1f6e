"""The local kubelet's Job controller, as a pure planner.

``plan_job`` looks at a Job and its pods and says which pods to start, which to stop, the
Job's status, and when to look again (backoff after a failure, the active deadline, the TTL
after finishing). Semantics follow Kubernetes: ``completions`` and ``parallelism``,
``backoffLimit`` counting failed pods (and container restarts under ``OnFailure``),
``activeDeadlineSeconds``, ``ttlSecondsAfterFinished``, and the ``Complete``/``Failed``
conditions with ``BackoffLimitExceeded``/``DeadlineExceeded``. The retry backoff is shorter
than Kubernetes' (0.5 s doubling, capped at 5 s) because local pods start in milliseconds.
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass, field
from typing import Any

from naksha.local.kubelet.ownership import owned_pod, pod_is_ready, pod_phase, random_suffix

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 5.0


@dataclass
class JobPlan:
    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    requeue_after: float | None = None
    delete_job: bool = False


def plan_job(job: dict[str, Any], pods: list[dict[str, Any]], now: datetime.datetime) -> JobPlan:
    spec = job.get("spec") or {}
    status = copy.deepcopy(job.get("status") or {})
    plan = JobPlan(status=status)
    if spec.get("suspend"):
        plan.delete = [p["metadata"]["name"] for p in _active(pods)]
        status["active"] = 0
        return plan
    status.setdefault("startTime", _stamp(now))
    completions = int(spec.get("completions", 1))
    parallelism = int(spec.get("parallelism", 1))
    backoff_limit = int(spec.get("backoffLimit", 6))
    restart_policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy", "Never")

    active = _active(pods)
    succeeded = sum(1 for p in pods if pod_phase(p) == "Succeeded")
    failed = sum(1 for p in pods if pod_phase(p) == "Failed")
    if restart_policy == "OnFailure":
        failed += sum(_restarts(p) for p in pods)
    status.update(
        {
            "active": len(active),
            "succeeded": succeeded,
            "failed": failed,
            "ready": sum(1 for p in active if pod_is_ready(p)),
        }
    )

    finished_at = _finished_at(status)
    if finished_at is None:
        deadline = spec.get("activeDeadlineSeconds")
        started = _parse(status["startTime"])
        if succeeded >= completions:
            _finish(status, "Complete", "", "", now)
        elif failed > backoff_limit:
            _finish(
                status, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit", now
            )
        elif deadline is not None and (now - started).total_seconds() >= float(deadline):
            _finish(
                status, "Failed", "DeadlineExceeded", "Job was active longer than specified deadline", now
            )
        else:
            _start_more(plan, job, pods, active, completions - succeeded, parallelism, failed, now)
            if deadline is not None:
                left = float(deadline) - (now - started).total_seconds()
                plan.requeue_after = min(plan.requeue_after or left, left)
            return plan
        finished_at = now

    # Finished: nothing runs any more, and the TTL decides when the Job itself goes.
    plan.delete = [p["metadata"]["name"] for p in _active(pods)]
    status["active"] = 0
    status["ready"] = 0
    ttl = spec.get("ttlSecondsAfterFinished")
    if ttl is not None:
        left = float(ttl) - (now - finished_at).total_seconds()
        if left <= 0:
            plan.delete_job = True
        else:
            plan.requeue_after = left
    return plan


def select_own_pods(job: dict[str, Any]) -> dict[str, Any]:
    """Default a Job's selector to its own pods, as the API server does (``kubectl logs job/x`` uses it)."""
    meta = job["metadata"]
    spec = job.setdefault("spec", {})
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": meta["uid"]}}
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), **_job_labels(job)}
    return job


def _job_labels(job: dict[str, Any]) -> dict[str, str]:
    meta = job["metadata"]
    return {
        "job-name": meta["name"],
        "batch.kubernetes.io/job-name": meta["name"],
        "controller-uid": meta["uid"],
        "batch.kubernetes.io/controller-uid": meta["uid"],
    }


def _active(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        p
        for p in pods
        if pod_phase(p) not in ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp")
    ]


def _restarts(pod: dict[str, Any]) -> int:
    return sum(
        int(s.get("restartCount", 0)) for s in (pod.get("status") or {}).get("containerStatuses") or []
    )


def _start_more(
    plan: JobPlan,
    job: dict[str, Any],
    pods: list[dict[str, Any]],
    active: list[dict[str, Any]],
    remaining: int,
    parallelism: int,
    failed: int,
    now: datetime.datetime,
) -> None:
    wanted = min(parallelism, remaining) - len(active)
    if wanted <= 0:
        return
    if failed:
        delay = min(BACKOFF_BASE_SECONDS * 2 ** (failed - 1), BACKOFF_CAP_SECONDS)
        last_failure = _last_failure(pods)
        if last_failure is not None:
            waited = (now - last_failure).total_seconds()
            if waited < delay:
                plan.requeue_after = delay - waited
                return
    plan.create = [_pod_for(job) for _ in range(wanted)]


def _last_failure(pods: list[dict[str, Any]]) -> datetime.datetime | None:
    times = []
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            finished = ((container.get("state") or {}).get("terminated") or {}).get("finishedAt")
            if finished and ((container.get("state") or {}).get("terminated") or {}).get("exitCode"):
                times.append(_parse(finished))
    return max(times) if times else None


def _finish(status: dict[str, Any], kind: str, reason: str, message: str, now: datetime.datetime) -> None:
    condition: dict[str, Any] = {
        "type": kind,
        "status": "True",
        "lastProbeTime": _stamp(now),
        "lastTransitionTime": _stamp(now),
    }
    if reason:
        condition.update({"reason": reason, "message": message})
    status["conditions"] = [*(status.get("conditions") or []), condition]
    if kind == "Complete":
        status["completionTime"] = _stamp(now)


def _finished_at(status: dict[str, Any]) -> datetime.datetime | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return _parse(str(condition.get("lastTransitionTime")))
    return None


def _pod_for(job: dict[str, Any]) -> dict[str, Any]:
    return owned_pod(job, "batch/v1", "Job", f"{job['metadata']['name']}-{random_suffix()}", _job_labels(job))


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(stamp: str) -> datetime.datetime:
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
