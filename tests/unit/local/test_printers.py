"""The cells the emulator prints for built-in kinds, derived as the real API server derives them."""

from __future__ import annotations

from typing import Any

import pytest

from naksha.local.apiserver.printers import BUILTIN, human_duration

META = {"name": "x", "creationTimestamp": "2020-01-01T00:00:00Z"}


def cells(group: str, plural: str, obj: dict[str, Any]) -> list[Any]:
    return BUILTIN[(group, plural)][1]({"metadata": META, **obj})


def pod(*states: dict[str, Any], phase: str = "Running", **meta: Any) -> dict[str, Any]:
    containers = [{"name": f"c{i}"} for i in range(len(states))]
    statuses = [{"name": f"c{i}", **state} for i, state in enumerate(states)]
    return {
        "metadata": {**META, **meta},
        "spec": {"containers": containers, "nodeName": "local-node"},
        "status": {"phase": phase, "podIP": "127.0.0.2", "containerStatuses": statuses},
    }


class TestPodStatus:
    @pytest.mark.parametrize(
        ("state", "shown"),
        [
            ({"ready": True, "state": {"running": {}}}, "Running"),
            ({"state": {"waiting": {"reason": "CrashLoopBackOff"}}}, "CrashLoopBackOff"),
            ({"state": {"waiting": {"reason": "CreateContainerConfigError"}}}, "CreateContainerConfigError"),
            ({"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}, "Completed"),
            ({"state": {"terminated": {"exitCode": 3}}}, "ExitCode:3"),
            ({"state": {"terminated": {"exitCode": 137, "signal": 9}}}, "Signal:9"),
        ],
    )
    def test_the_status_is_the_most_telling_container_reason(self, state, shown):
        assert BUILTIN[("", "pods")][1](pod(state))[1] == shown

    def test_ready_counts_ready_containers_and_restarts_add_up(self):
        running = {"ready": True, "restartCount": 2, "state": {"running": {}}}
        starting = {"ready": False, "restartCount": 1, "state": {"running": {}}}
        ready, _, restarts, age, ip, node, *_ = BUILTIN[("", "pods")][1](pod(running, starting))
        assert (ready, restarts, ip, node) == ("1/2", "3", "127.0.0.2", "local-node")
        assert age.startswith(("6y", "7y"))  # created in 2020

    def test_a_pod_being_deleted_is_terminating(self):
        state = {"ready": True, "state": {"running": {}}}
        assert (
            BUILTIN[("", "pods")][1](pod(state, deletionTimestamp="2030-01-01T00:00:00Z"))[1] == "Terminating"
        )


def test_job_completions_follow_completions_or_parallelism():
    assert cells("batch", "jobs", {"spec": {"completions": 3}, "status": {"succeeded": 1}})[:2] == [
        "Running",
        "1/3",
    ]
    assert cells("batch", "jobs", {"spec": {"parallelism": 4}, "status": {}})[1] == "0/1 of 4"
    done = {
        "spec": {},
        "status": {
            "succeeded": 1,
            "startTime": "2020-01-01T00:00:00Z",
            "completionTime": "2020-01-01T00:01:05Z",
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    }
    assert cells("batch", "jobs", done)[:3] == ["Complete", "1/1", "65s"]


def test_services_show_pending_load_balancers_and_node_ports():
    spec = {
        "type": "LoadBalancer",
        "clusterIP": "10.0.0.1",
        "ports": [{"port": 80, "nodePort": 31000, "protocol": "UDP"}],
    }
    assert cells("", "services", {"spec": spec})[:4] == [
        "LoadBalancer",
        "10.0.0.1",
        "<pending>",
        "80:31000/UDP",
    ]


def test_selectors_print_labels_and_expressions():
    selector = {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web", "api"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    deployment = {
        "spec": {
            "replicas": 3,
            "selector": selector,
            "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}},
        },
        "status": {"readyReplicas": 1},
    }
    assert cells("apps", "deployments", deployment)[0] == "1/3"
    assert cells("apps", "deployments", deployment)[-1] == "a=1,b=2,tier in (api,web),!canary"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 3600, "3d1h"),
        (40 * 86400, "40d"),
        (800 * 86400, "2y70d"),
        (-5, "<invalid>"),
    ],
)
def test_durations_read_like_kubectls(seconds, shown):
    assert human_duration(seconds) == shown
