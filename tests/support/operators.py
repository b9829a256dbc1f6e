"""The operator as its own process (killed and restarted by the crash tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, free_port


def start_operator(kubeconfig: Path, namespace: str, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": str(ROOT / "operator"),
        "NAKSHA_METRICS_PORT": str(free_port()),
        "NAKSHA_HEALTH_PORT": str(free_port()),
        "NAKSHA_IMAGE": "example.com/simulated-worker:1",
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "naksha", "operator", "--namespace", namespace],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a kill takes its children (git...) too
    )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the operator and every process it started, as a container's end does."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
