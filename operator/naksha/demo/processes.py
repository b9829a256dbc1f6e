"""Naksha programs the demo runs beside the operator (``naksha hub``, ``naksha edge-agent``).

Each is its own process on loopback with its output in a log file under the stage's state
directory; ``start`` registers its stop with the stage, so it ends with the stage (or stays up
with ``--keep`` until the user stops the demo).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from naksha.demo.stage import Stage
from naksha.errors import ConfigError

STOP_SECONDS = 15.0


def start(
    stage: Stage, name: str, args: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``naksha ARGS`` as a process logging to ``<state>/<name>.log``, stopped with the stage."""
    log_path = stage.state_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "naksha", *args],
            env={**os.environ, "KUBECONFIG": str(stage.kubeconfig), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    stage.closers.append(lambda: stop(process))
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def alive(process: subprocess.Popen[bytes], name: str, log: Path) -> None:
    """A clear error, with the end of its log, when the process has exited."""
    if process.poll() is not None:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:]) if log.exists() else ""
        raise ConfigError(f"{name} exited with code {process.returncode}: {tail}")
