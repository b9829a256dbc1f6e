"""Builder of the Job that runs one AgentRun's graph in its own pod (executor ``job``).

The pod runs ``naksha agent-run NAME`` with the operator's guardrail settings in its
environment, so a run's refusals are the same whichever executor drives it. The Job retries a
killed or crashed pod (``backoffLimit``); the engine in the new pod resumes from the run's
checkpoint and its recorded action keys, so a retry never repeats an action.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from naksha.crashpoints import ENV as CRASH_POINT_ENV
from naksha.models.labels import RUN_LABEL
from naksha.workloads.naming import child_name, common_labels, restricted_security_context

COMPONENT = "agent-run"
BACKOFF_LIMIT = 4
# Settings a Job pod inherits from the operator: the guardrails, and the crash tests' hook.
INHERITED_SETTINGS = (
    CRASH_POINT_ENV,
    "NAKSHA_KILL_SWITCH",
    "NAKSHA_AGENT_NAMESPACES",
    "NAKSHA_AGENT_KINDS",
    "NAKSHA_AGENT_RATE_LIMIT",
    "NAKSHA_AGENT_RATE_WINDOW",
    "NAKSHA_LOG_LEVEL",
)


def executor_job_name(run: str) -> str:
    return child_name(run, "run")


def build_executor_job(
    *,
    run: str,
    namespace: str,
    image: str,
    settings_env: Mapping[str, str],
    service_account: str | None = None,
    deadline_seconds: int | None = None,
) -> dict[str, Any]:
    env = [{"name": key, "value": settings_env[key]} for key in INHERITED_SETTINGS if settings_env.get(key)]
    labels = {**common_labels(COMPONENT, run), RUN_LABEL: run}
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 10,
        "containers": [
            {
                "name": "engine",
                "image": image,
                "args": ["agent-run", run, "--namespace", namespace],
                "env": env,
                "resources": {
                    "requests": {"cpu": "50m", "memory": "96Mi"},
                    "limits": {"memory": "256Mi"},
                },
                "securityContext": restricted_security_context(),
            }
        ],
    }
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    job_spec: dict[str, Any] = {
        "backoffLimit": BACKOFF_LIMIT,
        "ttlSecondsAfterFinished": 3600,
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if deadline_seconds:
        job_spec["activeDeadlineSeconds"] = deadline_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": executor_job_name(run), "namespace": namespace, "labels": labels},
        "spec": job_spec,
    }
