"""Helpers shared by the tests: polling, free ports, the real kubectl, git; one module per area beside it."""

from __future__ import annotations

import fcntl
import os
import random
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, watch

ROOT = Path(__file__).resolve().parents[2]


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports handed out by free_port: below the kernel's ephemeral range, where bind(0) and every
# outgoing connection take theirs, so a port picked here cannot be taken by a client socket
# between the pick and the server's bind. Each is flock-ed in a directory shared by every test
# session on the machine (the emulator and real passes run side by side, and so do colleagues'),
# held until this process ends: two sessions never pick the same port.
_PORT_LOW = 20000
_PORT_LOCKS = Path(tempfile.gettempdir()) / "naksha-test-ports"
_held_ports: dict[int, int] = {}


def free_port() -> int:
    """A loopback port nobody listens on now, reserved for this test process on the whole machine."""
    high = _ephemeral_low()
    if high - _PORT_LOW >= 1000:
        _PORT_LOCKS.mkdir(parents=True, exist_ok=True)
        for _ in range(200):
            port = random.randrange(_PORT_LOW, high)
            if port in _held_ports:
                continue
            fd = os.open(_PORT_LOCKS / str(port), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
            except OSError:  # locked by another session, or bound by someone else
                os.close(fd)
                continue
            _held_ports[port] = fd
            return port
    with socket.socket() as sock:  # an unusual port range: the kernel's pick
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(check: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns a truthy value without raising; fail with the last error."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (AssertionError, AttributeError, LookupError, TypeError, client.ApiException) as error:
            last = error
        else:
            if result:
                return result
            last = result
        time.sleep(interval)
    raise AssertionError(f"not reached within {timeout}s; last: {last!r}")


def spec_changes(api_client: client.ApiClient, before: Any) -> int:
    """How often a Deployment's spec changed since ``before`` (a read of it), from the watch history.

    Exactly-once checks count spec changes rather than ``generation``: the API server also bumps
    a Deployment's generation when its annotations change.
    """
    apps = client.AppsV1Api(api_client)
    meta = before.metadata
    previous = api_client.sanitize_for_serialization(before.spec)
    changes = 0
    for event in watch.Watch().stream(
        apps.list_namespaced_deployment,
        meta.namespace,
        field_selector=f"metadata.name={meta.name}",
        resource_version=meta.resource_version,
        timeout_seconds=1,
    ):
        spec = event["raw_object"].get("spec")
        if event["type"] in ("ADDED", "MODIFIED") and spec != previous:
            changes += 1
            previous = spec
    return changes


class Kubectl:
    """The real kubectl, pointed at the local control plane."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result


def git(*args: str, cwd: Path) -> str:
    """Run git; its output, stripped."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def push_all(clone: Path, message: str) -> None:
    """Commit everything in a clone as a developer would, and push it to its main branch."""
    git("add", ".", cwd=clone)
    git(
        "-c",
        "user.name=dev",
        "-c",
        "user.email=dev@example.com",
        "commit",
        "--quiet",
        "-m",
        message,
        cwd=clone,
    )
    git("push", "--quiet", "origin", "HEAD:main", cwd=clone)
