"""A pod whose process keeps exiting is not Ready: it waits in CrashLoopBackOff between restarts.

The container runs ``naksha demo-app`` with a port setting it refuses, so the real process exits
with code 2 every time it starts.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client
from tests.support import eventually
from tests.support.pods import demo_pod


def crashing_pod(name: str) -> dict[str, Any]:
    pod = demo_pod(name, env=[{"name": "NAKSHA_DEMO_PORT", "value": "not-a-port"}])
    del pod["spec"]["containers"][0]["readinessProbe"]  # without a probe a started container counts as ready
    return pod


def test_a_crash_looping_pod_is_not_ready_and_shows_its_restarts(api_client, fresh_namespace):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(fresh_namespace, crashing_pod("crasher"))

    def backing_off() -> Any:
        pod = core.read_namespaced_pod("crasher", fresh_namespace)
        (container,) = pod.status.container_statuses
        waiting = container.state.waiting
        return (
            waiting is not None
            and waiting.reason == "CrashLoopBackOff"
            and container.restart_count >= 2
            and pod
        )

    pod = eventually(backing_off, timeout=60)
    (container,) = pod.status.container_statuses
    assert pod.status.phase == "Running"  # as in Kubernetes: the pod runs, its container keeps failing
    assert container.ready is False
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "False"
    assert container.last_state.terminated.exit_code == 2
    assert "back-off" in container.state.waiting.message

    # Whenever its container is not running, the pod is not Ready.
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod("crasher", fresh_namespace)
        (container,) = pod.status.container_statuses
        if container.state.running is None:
            assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "False"
        time.sleep(0.1)
