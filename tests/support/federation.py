"""Real federation processes for tests: ``naksha hub``, ``naksha edge-agent``, and a loopback TCP proxy
whose blackout makes the hub unreachable for an agent (and back)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.support import ROOT, eventually, free_port


class NakshaProcess:
    """One ``naksha`` subcommand as a real process, its output in a log file."""

    def __init__(self, log: Path, args: list[str], env: dict[str, str]) -> None:
        self.log = log
        self.args = args
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NakshaProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "naksha", *self.args],
                env={**os.environ, "PYTHONPATH": str(ROOT / "operator"), **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        eventually(lambda: text in self.output(), timeout=timeout, interval=0.1)


def start_hub(directory: Path, kubeconfig: Path, namespace: str, port: int, **env: str) -> NakshaProcess:
    port_file = directory / "hub.port"
    port_file.unlink(missing_ok=True)
    hub = NakshaProcess(
        directory / "hub.log",
        [
            "hub",
            "--namespace",
            namespace,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--self-signed",
            str(directory / "tls"),
            "--port-file",
            str(port_file),
        ],
        {"KUBECONFIG": str(kubeconfig), **env},
    ).start()
    eventually(port_file.exists, timeout=90, interval=0.2)
    return hub


class TcpProxy:
    """Forwards 127.0.0.1:port to a target port; ``blackout`` drops every connection and refuses new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.blackout = threading.Event()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.blackout.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while not self.blackout.is_set():
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for each in (source, sink):
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)
                each.close()
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)

    def cut(self) -> None:
        self.blackout.set()
        with self._lock:
            for each in list(self._sockets):
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.blackout.clear()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._server.close()


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), {})


def wait_seconds(seconds: float) -> None:
    time.sleep(seconds)
