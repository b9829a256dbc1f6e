"""The status a local kubelet reports for a pod: each container's state, the pod's phase and conditions.

Pure functions of what the pod runner knows about each container run (``ContainerRun``), shaped
as the Kubernetes API's ``PodStatus``, so typed clients, ``kubectl`` and the controllers read the
local kubelet's pods as they read a real node's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from naksha.local.apiserver.tables import now
from naksha.local.network.pods import HOST_ADDRESS

PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff")
WAITING = ("CreateContainerConfigError", "CrashLoopBackOff", *PULL_FAILURES)


@dataclass
class ContainerRun:
    name: str
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    ready: bool = False
    exit_code: int | None = None
    reason: str = ""
    last_state: dict[str, Any] = field(default_factory=dict)  # the previous run's end, once restarted
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


def container_status(
    container: dict[str, Any], run: ContainerRun, started_at: str, message: str
) -> dict[str, Any]:
    """One ``containerStatuses`` entry: running, waiting (with its reason and ``message``) or terminated."""
    running = run.exit_code is None and run.reason not in WAITING
    if running:
        state: dict[str, Any] = {"running": {"startedAt": started_at}}
    elif run.reason in WAITING:
        state = {"waiting": {"reason": run.reason, "message": message}}
    else:
        state = {"terminated": {"exitCode": run.exit_code, "reason": run.reason, "finishedAt": now()}}
    return {
        "name": run.name,
        "image": container.get("image", ""),
        # Required by typed clients; a process has no image digest, so the image names itself.
        "imageID": f"local://{container.get('image', '')}",
        "containerID": f"local://{run.process.pid}" if run.process is not None else "",
        "ready": run.ready,
        "restartCount": run.restarts,
        "state": state,
        "started": running,
        **({"lastState": run.last_state} if run.last_state else {}),
    }


def pod_status(
    statuses: list[dict[str, Any]],
    restart_policy: str,
    *,
    address: str,
    started_at: str,
    network_condition: dict[str, Any],
) -> dict[str, Any]:
    """The pod's whole status from its containers' statuses: Ready only when every container is."""
    phase = _phase(statuses, restart_policy)
    ready = bool(statuses) and all(s["ready"] for s in statuses) and phase == "Running"
    flag = "True" if ready else "False"
    return {
        "phase": phase,
        "podIP": address,
        "podIPs": [{"ip": address}],
        "hostIP": HOST_ADDRESS,
        "hostIPs": [{"ip": HOST_ADDRESS}],
        "startTime": started_at,
        "containerStatuses": statuses,
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": flag},
            {"type": "Ready", "status": flag},
            network_condition,
        ],
    }


def _phase(statuses: list[dict[str, Any]], policy: str) -> str:
    terminated = [s["state"]["terminated"] for s in statuses if "terminated" in s["state"]]
    if statuses and len(terminated) == len(statuses) and policy != "Always":
        if all(t["exitCode"] == 0 for t in terminated):
            return "Succeeded"
        if policy == "Never":
            return "Failed"
    # A container waiting to be restarted after a crash, or one that ran before and now waits
    # for its new image, leaves its pod Running, as in Kubernetes.
    if any(
        s["state"].get("waiting", {}).get("reason") not in (None, "CrashLoopBackOff")
        and not s.get("lastState")
        for s in statuses
    ):
        return "Pending"
    return "Running"
