"""`naksha local up --backend real`: the real control plane as a user runs it, and its clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support import Kubectl, eventually


@pytest.mark.real_only(reason="starts a real control plane of its own")
def test_local_up_serves_a_ready_node_and_stops_every_server_on_ctrl_c(tmp_path: Path):
    kubeconfig, state = tmp_path / "kubeconfig", tmp_path / "state"
    up = subprocess.Popen(
        [
            *(sys.executable, "-m", "naksha", "local", "up", "--backend", "real"),
            *("--kubeconfig", str(kubeconfig), "--state-dir", str(state)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert up.stdout is not None
        started = time.monotonic()
        line = ""
        while "kubeconfig" not in line:
            line = up.stdout.readline()
            assert line or up.poll() is None, "naksha local up exited early"
            assert time.monotonic() - started < 180
        kubectl = Kubectl(kubeconfig)
        assert "local-node   Ready" in kubectl("get", "nodes").stdout
        # Every server runs as its own process, in its own session, with its log.
        logs = sorted(p.name for p in (state / "logs").iterdir())
        assert logs == ["etcd.log", "kube-apiserver.log", "kube-controller-manager.log", "kube-scheduler.log"]
        servers = _children_of(up.pid)
        assert len(servers) == 4
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    assert up.returncode == 0
    eventually(lambda: not [pid for pid in servers if _alive(pid)], timeout=30)


def test_local_up_says_how_to_build_when_the_binaries_are_missing(tmp_path: Path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "naksha",
            "local",
            "up",
            "--backend",
            "real",
            "--kubeconfig",
            str(tmp_path / "k"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NAKSHA_CACHE": str(tmp_path / "empty-cache")},
    )
    assert result.returncode == 1
    assert "not built" in result.stderr and "make real-apiserver" in result.stderr


def _children_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()
