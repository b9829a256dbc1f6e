"""When a Rollout's stable pods count as healthy: ready, and none crash-looping."""

from __future__ import annotations

import datetime
from typing import Any

from naksha.domain.rollout.health import RECENT_RESTART_SECONDS, crash_looping, stable_health

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC).timestamp()


def stamp(seconds_ago: float) -> str:
    return datetime.datetime.fromtimestamp(NOW - seconds_ago, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    name: str, state: dict[str, Any], restarts: int = 0, last: dict[str, Any] | None = None
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "state": state, "restartCount": restarts}
    if last is not None:
        container["lastState"] = last
    return {"metadata": {"name": name}, "spec": {}, "status": {"containerStatuses": [container]}}


RUNNING = {"running": {"startedAt": stamp(600)}}


def deployment(replicas: int, ready: int) -> dict[str, Any]:
    return {"spec": {"replicas": replicas}, "status": {"readyReplicas": ready}}


def test_ready_pods_without_recent_restarts_are_healthy():
    pods = [
        pod("a", RUNNING),
        pod("b", RUNNING, restarts=3, last={"terminated": {"finishedAt": stamp(3600)}}),
    ]
    assert stable_health(deployment(2, 2), pods, NOW).healthy


def test_a_pod_backing_off_after_a_crash_makes_the_rollout_unhealthy_even_if_all_count_ready():
    pods = [pod("a", RUNNING), pod("b", {"waiting": {"reason": "CrashLoopBackOff"}}, restarts=4)]
    health = stable_health(deployment(2, 2), pods, NOW)
    assert not health.healthy and health.crash_looping == ("b",)
    assert "1 of 2 stable pods are crash-looping (b)" in health.message


def test_a_restart_within_the_last_minute_counts_as_crash_looping_and_an_old_one_does_not():
    recent = pod(
        "a", RUNNING, restarts=1, last={"terminated": {"finishedAt": stamp(RECENT_RESTART_SECONDS / 2)}}
    )
    old = pod(
        "a", RUNNING, restarts=1, last={"terminated": {"finishedAt": stamp(RECENT_RESTART_SECONDS * 2)}}
    )
    assert crash_looping(recent, NOW) and not crash_looping(old, NOW)


def test_a_terminated_container_of_a_pod_that_should_run_counts_as_crash_looping():
    assert crash_looping(pod("a", {"terminated": {"exitCode": 1}}), NOW)
    done = pod("a", {"terminated": {"exitCode": 0}})
    done["spec"]["restartPolicy"] = "Never"
    assert not crash_looping(done, NOW)


def test_too_few_ready_pods_or_no_deployment_is_not_healthy():
    assert stable_health(deployment(4, 3), [pod("a", RUNNING)], NOW).message == "3 of 4 stable pods are ready"
    assert not stable_health(None, [], NOW).healthy
