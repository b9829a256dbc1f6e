"""Without network namespaces, pods run on the host's loopback as before, and say so.

Simulated with the control plane's ``isolate_pods=False`` option (what ``naksha local up
--host-network`` sets, and what a kubelet that is not root gets anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from tests.support import eventually, free_port
from tests.support.pods import demo_pod, get, network_condition

pytestmark = pytest.mark.emulator_only(
    reason="starts emulator control planes of its own with isolate_pods=False; the real backend's "
    "node agent gives pods the same naksha.local.network, with the same option"
)


@pytest.fixture(scope="module")
def host_network_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from naksha.local import LocalControlPlane

    with LocalControlPlane(
        state_dir=Path(tmp_path_factory.mktemp("host-network")), isolate_pods=False
    ) as plane:
        yield plane


def test_a_pod_without_namespaces_runs_on_the_hosts_loopback_and_its_status_says_why(host_network_plane):
    core = client.CoreV1Api(
        config.new_client_from_config(config_file=str(host_network_plane.kubeconfig_path))
    )
    port = free_port()  # on the host's loopback ports are shared: take a free one
    env = [{"name": "NAKSHA_DEMO_PORT", "value": str(port)}]
    ports = [{"name": "http", "containerPort": port}]
    core.create_namespaced_pod("default", demo_pod("shared", env=env, ports=ports))

    def ready() -> Any:
        pod = core.read_namespaced_pod("shared", "default")
        assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        return pod

    pod = eventually(ready, timeout=60)
    assert pod.status.pod_ip == "127.0.0.1"
    condition = network_condition(pod)
    assert (condition.status, condition.reason) == ("False", "NamespacesUnavailable")
    assert "host networking was asked for" in condition.message
    assert get(f"http://127.0.0.1:{port}/") == "v1"


def test_the_kubelet_log_says_pods_share_the_hosts_loopback(tmp_path, caplog):
    from naksha.local import LocalControlPlane

    caplog.set_level(logging.WARNING, logger="naksha.local.network")
    with LocalControlPlane(state_dir=tmp_path, isolate_pods=False):
        pass
    assert any("pods share the host's loopback" in r.getMessage() for r in caplog.records)
