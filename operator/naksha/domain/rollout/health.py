"""Whether a Rollout's stable pods are really serving: the pure part of "is it Healthy?".

A Deployment's ``readyReplicas`` alone misleads when pods crash-loop: a container without a
readiness probe is Ready between its restart and its next crash, so a count taken at the wrong
moment says all is well. A pod therefore counts as crash-looping when a container waits in a
crash state (``CrashLoopBackOff``, ``Error``…), is terminated while its pod should run, or
restarted within the last ``RECENT_RESTART_SECONDS`` — and one such pod keeps the Rollout from
being Healthy. ``naksha.controllers.rollout.health`` reads the Deployment and its pods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from naksha.models import timestamps

RECENT_RESTART_SECONDS = 60.0
_CRASH_REASONS = frozenset(
    {"CrashLoopBackOff", "Error", "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)


@dataclass(frozen=True)
class Health:
    healthy: bool
    crash_looping: tuple[str, ...] = ()
    message: str = ""


def stable_health(deployment: dict[str, Any] | None, pods: list[dict[str, Any]], now: float) -> Health:
    """The stable Deployment's health from its status and its pods' container states."""
    if deployment is None:
        return Health(False, message="the stable Deployment does not exist yet")
    wanted = int((deployment.get("spec") or {}).get("replicas", 1))
    crashing = tuple(sorted(p["metadata"]["name"] for p in pods if crash_looping(p, now)))
    if crashing:
        shown = ", ".join(crashing[:3]) + (" …" if len(crashing) > 3 else "")
        return Health(False, crashing, f"{len(crashing)} of {wanted} stable pods are crash-looping ({shown})")
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    if ready < wanted:
        return Health(False, message=f"{ready} of {wanted} stable pods are ready")
    return Health(True)


def crash_looping(pod: dict[str, Any], now: float) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason") in _CRASH_REASONS:
            return True
        if "terminated" in state and (pod.get("spec") or {}).get("restartPolicy", "Always") == "Always":
            return True
        finished = ((container.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if (
            int(container.get("restartCount") or 0) > 0
            and finished
            and now - _seconds(finished) < RECENT_RESTART_SECONDS
        ):
            return True
    return False


def _seconds(timestamp: str) -> float:
    try:
        return timestamps.to_seconds(timestamp)
    except ValueError:
        return 0.0
