"""A kubelet cleans up pod networks when it stops, and after a crash the next one removes the leftovers.

``naksha local up`` runs as its own process here, so it can be SIGKILLed like a crashing kubelet:
its pods' processes keep running in their namespaces, and the next kubelet to start on the
machine finds those namespaces (their owner's pid is gone), kills what runs inside and removes
them. Address locks die with their holder.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import Kubectl, eventually
from tests.support.pods import address_in_use, alive, demo_pod, listens, needs_namespaces

pytestmark = [
    needs_namespaces,
    pytest.mark.emulator_only(
        reason="SIGKILLs an emulator `naksha local up` (a real one would leave its etcd and "
        "kube-apiserver running); the node agent's cleanup is the same naksha.local.network code"
    ),
]


class LocalUp:
    """``naksha local up`` in a child process, with its kubectl."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.log_path = directory / "local-up.log"
        kubeconfig = directory / "kubeconfig"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "naksha", "local", "up", "--kubeconfig", str(kubeconfig),
                 "--state-dir", str(directory / "state")],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        eventually(lambda: "local control plane at" in self.log(), timeout=30)
        self.kubectl = Kubectl(kubeconfig)

    def log(self) -> str:
        return self.log_path.read_text()

    def ready_pod(self, name: str) -> dict[str, Any]:
        self.kubectl("apply", "-f", "-", input=json.dumps(demo_pod(name)))

        def ready() -> dict[str, Any] | None:
            pod: dict[str, Any] = json.loads(self.kubectl("get", "pod", name, "-o", "json").stdout)
            conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions") or []}
            return pod if conditions.get("Ready") == "True" else None

        return dict(eventually(ready, timeout=60))

    def stop(self, sig: signal.Signals) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout=30)


@pytest.fixture
def planes(tmp_path: Path) -> Iterator[list[LocalUp]]:
    started: list[LocalUp] = []
    yield started
    for plane in started:
        plane.stop(signal.SIGTERM)


def facts(pod: dict[str, Any]) -> tuple[str, int, str]:
    """(network namespace, process id, address) of a pod, from its status."""
    condition = next(c for c in pod["status"]["conditions"] if c["type"] == "naksha.io/NetworkIsolated")
    netns = condition["message"].split("network namespace ", 1)[1].split(",", 1)[0]
    pid = int(pod["status"]["containerStatuses"][0]["containerID"].removeprefix("local://"))
    return netns, pid, pod["status"]["podIP"]


def namespaces_listed() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout


def test_a_kubelet_that_stops_removes_its_pods_namespaces_processes_and_addresses(planes, tmp_path):
    plane = LocalUp(tmp_path / "graceful")
    planes.append(plane)
    netns, pid, address = facts(plane.ready_pod("web"))
    assert netns in namespaces_listed() and alive(pid) and address_in_use(address)

    plane.stop(signal.SIGTERM)

    assert netns not in namespaces_listed()
    assert not alive(pid) and not address_in_use(address) and not listens(address, 8080)


def test_after_a_kubelet_crash_the_next_kubelet_removes_what_it_left(planes, tmp_path):
    crashed = LocalUp(tmp_path / "crashed")
    planes.append(crashed)
    netns, pid, address = facts(crashed.ready_pod("web"))

    crashed.stop(signal.SIGKILL)
    # What a crash leaves: the namespace and the pod's process in it. The address lock died with it.
    assert netns in namespaces_listed() and alive(pid)
    assert not address_in_use(address)

    successor = LocalUp(tmp_path / "successor")
    planes.append(successor)

    assert netns not in namespaces_listed()
    assert eventually(lambda: not alive(pid), timeout=10)
    assert netns in successor.log() and "left by kubelets that are gone" in successor.log()
    # The successor runs pods as usual.
    assert facts(successor.ready_pod("web"))[0] in namespaces_listed()
