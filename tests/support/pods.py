"""What tests of pod networking share: pod specs, where a pod runs, and looking inside its namespace."""

from __future__ import annotations

import fcntl
import os
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from naksha.local.network import namespaces

NETNS_DIR = Path("/run/netns")
ADDRESS_LOCKS = Path("/run/naksha/addresses")

needs_namespaces = pytest.mark.skipif(
    bool(namespaces.missing_requirements()),
    reason=f"pods cannot get network namespaces here: {'; '.join(namespaces.missing_requirements())}",
)


def demo_pod(name: str, labels: dict[str, str] | None = None, **container: Any) -> dict[str, Any]:
    """A pod running ``naksha demo-app`` on :8080 that answers ``GET /`` with its own name."""
    spec: dict[str, Any] = {
        "name": "app",
        "image": "naksha",
        "args": ["demo-app"],
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": "NAKSHA_DEMO_VERSION", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
    }
    spec.update(container)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": "demo"}},
        "spec": {"containers": [spec], "terminationGracePeriodSeconds": 1},
    }


def network_condition(pod: Any) -> Any:
    return next(c for c in pod.status.conditions or [] if c.type == "naksha.io/NetworkIsolated")


def netns_of(pod: Any) -> str:
    """The pod's network namespace, as its status condition names it."""
    found = re.search(r"network namespace (\S+),", network_condition(pod).message or "")
    assert found, network_condition(pod).message
    return found.group(1)


def pid_of(pod: Any) -> int:
    return int(pod.status.container_statuses[0].container_id.removeprefix("local://"))


def get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return str(answer.read().decode()).strip()


def answer(url: str) -> str | None:
    """``GET url``'s body, or None while nothing answers there (a process still starting)."""
    try:
        return get(url, timeout=2)
    except OSError:
        return None


def get_from_inside(netns: str, url: str, *, pki: Path | None = None) -> str:
    """``GET url`` from a process inside the network namespace ``netns`` (as one of its pod's would).

    With ``pki`` (a local control plane's ``pki`` directory) the request trusts its CA and presents
    its admin certificate, as the API server requires.
    """
    context = "None"
    if pki is not None:
        context = (
            f"__import__('ssl').create_default_context(cafile={str(pki / 'ca.crt')!r}); "
            f"c.load_cert_chain({str(pki / 'admin.crt')!r}, {str(pki / 'admin.key')!r})"
        )
    code = (
        f"import urllib.request; c = {context}; "
        f"print(urllib.request.urlopen({url!r}, timeout=5, context=c).read().decode(), end='')"
    )
    result = subprocess.run(
        ["nsenter", f"--net={NETNS_DIR / netns}", "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def address_in_use(address: str) -> bool:
    """Whether some kubelet holds ``address`` (its lock file is locked)."""
    path = ADDRESS_LOCKS / address
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # drops the lock if we just took it
    return False


def listens(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
