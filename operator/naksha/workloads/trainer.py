"""Builder of the Job that trains one ModelVersion in its own pod (``naksha train --model-version``).

Training never runs in the operator: the pod reads the outcomes and history, trains, and writes
the artifact ConfigMap itself; the operator only reads the result. ``resources`` and the deadline
come from ``spec.trainer``; a killed or failed pod is retried ``backoffLimit`` times, and since the
artifact is written in a single create, a retried pod finds either no artifact or a whole one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from naksha.crashpoints import ENV as CRASH_POINT_ENV
from naksha.crashpoints import ONCE_ENV as CRASH_ONCE_ENV
from naksha.models.labels import MODEL_LABEL, MODEL_VERSION_LABEL
from naksha.workloads.naming import child_name, common_labels, restricted_security_context

COMPONENT = "trainer"
DEFAULT_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}}
# Settings a trainer pod inherits from the operator: logging, and the crash tests' crash point
# (with its fire-once marker, so the first attempt dies and the retried pod writes).
INHERITED_SETTINGS = ("NAKSHA_LOG_LEVEL", CRASH_POINT_ENV, CRASH_ONCE_ENV)


def training_job_name(version: str) -> str:
    return child_name(version, "train")


def artifact_config_map_name(version: str) -> str:
    return child_name(version, "artifact")


def build_training_job(
    *,
    version: str,
    model: str,
    namespace: str,
    image: str,
    resources: Mapping[str, Any],
    deadline_seconds: int,
    backoff_limit: int,
    service_account: str,
    settings_env: Mapping[str, str],
) -> dict[str, Any]:
    labels = {**common_labels(COMPONENT, version), MODEL_VERSION_LABEL: version, MODEL_LABEL: model}
    env = [{"name": key, "value": settings_env[key]} for key in INHERITED_SETTINGS if settings_env.get(key)]
    # Its own account, for the history tokens it asks for (TokenRequest) to read HTTP push rings.
    env.append({"name": "NAKSHA_SERVICE_ACCOUNT", "value": service_account})
    container = {
        "name": "trainer",
        "image": image,
        "args": ["train", "--model-version", f"{namespace}/{version}"],
        "env": env,
        "resources": dict(resources) or DEFAULT_RESOURCES,
        "securityContext": restricted_security_context(),
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": training_job_name(version), "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": backoff_limit,
            "activeDeadlineSeconds": deadline_seconds,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": service_account,
                    "terminationGracePeriodSeconds": 10,
                    "containers": [container],
                },
            },
        },
    }
