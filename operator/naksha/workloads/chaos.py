"""Pure builders of the helper pods a ChaosExperiment runs beside its targets.

Node-local faults never run in the operator: they run in pods it creates on the target's node
(``spec.nodeName`` set, so no scheduler decides otherwise) and deletes on restore.

- ``cpu-stress``: ``naksha chaos-helper burn-cpu`` burns CPU until its pod is deleted. It needs
  nothing but a CPU: the restricted security context, no privileges.
- ``container-kill``: ``naksha chaos-helper kill-container`` sends SIGKILL to one container's
  main process, found from its container ID in ``/proc/*/cgroup``; it needs the node's PID
  namespace (``hostPID: true``) and the right to signal another user's process (privileged,
  or ``SYS_PTRACE`` + ``KILL`` capabilities as root). Its pod runs once (``restartPolicy: Never``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from naksha.models.labels import CHAOS_EXPERIMENT, CHAOS_RUN_ID
from naksha.workloads.naming import common_labels, restricted_security_context

EXPERIMENT_LABEL = CHAOS_EXPERIMENT
RUN_LABEL = CHAOS_RUN_ID
HELPER_COMPONENT = "chaos-helper"


def helper_name(experiment: str, run: str, target: str, fault: str) -> str:
    """A stable name per (experiment, run, target, fault): creating it twice finds the first."""
    digest = hashlib.sha256(f"{experiment}/{run}/{target}/{fault}".encode()).hexdigest()[:10]
    short = {"cpu-stress": "stress", "container-kill": "kill"}.get(fault, "helper")
    prefix = "".join(c if c.isalnum() else "-" for c in experiment.lower())[:30].strip("-")
    return f"{prefix}-{short}-{digest}"


def _pod(
    name: str, namespace: str, experiment: str, run: str, node: str | None, container: dict[str, Any]
) -> dict[str, Any]:
    labels = {**common_labels(HELPER_COMPONENT, experiment), EXPERIMENT_LABEL: experiment, RUN_LABEL: run}
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "automountServiceAccountToken": False,
        "containers": [container],
    }
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def stress_pod(
    name: str,
    namespace: str,
    *,
    experiment: str,
    run: str,
    node: str | None,
    image: str,
    workers: int,
    load: int,
) -> dict[str, Any]:
    """The CPU burner beside a target: ``workers`` processes each busy ``load`` percent of the time."""
    container = {
        "name": "burn-cpu",
        "image": image,
        "command": ["naksha"],
        "args": ["chaos-helper", "burn-cpu", "--workers", str(workers), "--load", str(load)],
        "securityContext": restricted_security_context(),
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }
    return _pod(name, namespace, experiment, run, node, container)


def kill_pod(
    name: str,
    namespace: str,
    *,
    experiment: str,
    run: str,
    node: str | None,
    image: str,
    container_id: str,
) -> dict[str, Any]:
    """The one-shot pod that SIGKILLs the container ``container_id`` (``containerd://…``) on its node."""
    container = {
        "name": "kill-container",
        "image": image,
        "command": ["naksha"],
        "args": ["chaos-helper", "kill-container", "--container-id", container_id],
        "securityContext": {"privileged": True, "runAsUser": 0},
    }
    pod = _pod(name, namespace, experiment, run, node, container)
    pod["spec"]["hostPID"] = True
    return pod
