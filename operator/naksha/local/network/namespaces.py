"""Network namespaces for pods: create, enter, sweep, delete; the loopback redirect rules inside.

A pod's namespace is a named ``ip netns`` (a bind mount under ``/run/netns``) called
``naksha-<kubelet pid>-<uid prefix>-<namespace>.<pod>``, so ``ip netns list`` says whose it is
and a kubelet that starts finds the namespaces of kubelets that died (their pid is gone) and
removes them with whatever still runs inside. Inside, ``lo`` is up and an nftables rule sends
every TCP connection to another 127/8 address (another pod, a Service, a host service named by
the pod) to the pod's egress forwarder, because in every namespace the whole of 127.0.0.0/8 is
local: without the rule a pod dialling another pod's address would reach itself.

Python 3.11 has no ``os.setns``; ``setns(2)`` is called through libc with ctypes. A network
namespace is per thread, so a thread that enters one creates sockets there for the whole
process (the socket keeps its namespace for life).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import re
import shutil
import signal
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
PREFIX = "naksha-"
EGRESS_PORT = 15001  # the egress forwarder's port on the pod's own 127.0.0.1
_CLONE_NEWNET = 0x40000000
_NAME = re.compile(r"^naksha-(\d+)-")
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class NamespaceError(Exception):
    """A namespace could not be created, configured or entered."""


def setns(path: str | Path) -> None:
    """Move the calling thread into the network namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise NamespaceError(f"setns({path}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def namespace_name(kubelet_pid: int, uid: str, namespace: str, pod: str) -> str:
    # Bind-mount names are file names: keep them short enough and free of '/'.
    return f"{PREFIX}{kubelet_pid}-{uid[:8]}-{namespace}.{pod}"[:200].replace("/", "_")


async def _run(*argv: str, stdin: str | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin.encode() if stdin is not None else None)
    if process.returncode != 0:
        raise NamespaceError(
            f"{' '.join(argv)}: {err.decode(errors='replace').strip() or process.returncode}"
        )
    return out.decode()


def missing_requirements() -> list[str]:
    """Why pods cannot get namespaces here (empty when they can): not root, or a tool is missing."""
    missing = []
    if os.geteuid() != 0:
        missing.append("the kubelet is not root")
    missing += [f"no `{tool}` command" for tool in ("ip", "nft", "nsenter") if shutil.which(tool) is None]
    return missing


async def create(name: str, address: str) -> Path:
    """A namespace with ``lo`` up and the redirect rules; its bind-mount path. Removed again on failure."""
    await _run("ip", "netns", "add", name)
    try:
        await _run("ip", "-n", name, "link", "set", "lo", "up")
        await _run("ip", "netns", "exec", name, "nft", "-f", "-", stdin=_rules(address))
    except NamespaceError:
        with contextlib.suppress(NamespaceError):
            await _run("ip", "netns", "delete", name)
        raise
    return NETNS_DIR / name


def _rules(address: str) -> str:
    # Connections to the pod's own addresses stay inside; any other 127/8 address leaves through the
    # egress forwarder, and so does 127.0.0.1 on the host ports the pod was told about (@host_ports).
    return (
        "table ip naksha {\n"
        "  set host_ports { type inet_service; }\n"
        "  chain output {\n"
        "    type nat hook output priority -100; policy accept;\n"
        f"    meta l4proto tcp ip daddr 127.0.0.0/8 ip daddr != {{ 127.0.0.1, {address} }} "
        f"redirect to :{EGRESS_PORT}\n"
        f"    meta l4proto tcp ip daddr 127.0.0.1 tcp dport @host_ports tcp dport != {EGRESS_PORT} "
        f"redirect to :{EGRESS_PORT}\n"
        "  }\n"
        "}\n"
    )


async def add_host_ports(name: str, ports: Iterable[int]) -> None:
    """Make ``127.0.0.1:<port>`` inside the namespace reach the host's ``127.0.0.1:<port>``."""
    wanted = sorted({p for p in ports if 0 < p < 65536 and p != EGRESS_PORT})
    if wanted:
        elements = ", ".join(str(p) for p in wanted)
        await _run(
            "ip",
            "netns",
            "exec",
            name,
            "nft",
            "add",
            "element",
            "ip",
            "naksha",
            "host_ports",
            f"{{ {elements} }}",
        )


async def pids_inside(name: str) -> list[int]:
    with contextlib.suppress(NamespaceError):
        return [int(p) for p in (await _run("ip", "netns", "pids", name)).split()]
    return []


async def delete(name: str) -> None:
    """Kill what still runs inside, then remove the namespace (a no-op when it is gone)."""
    for pid in await pids_inside(name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if (NETNS_DIR / name).exists():
        await _run("ip", "netns", "delete", name)


def owned_by(kubelet_pid: int) -> list[str]:
    return [n for n in _listed() if (m := _NAME.match(n)) and int(m.group(1)) == kubelet_pid]


def leftovers() -> list[str]:
    """Namespaces of kubelets that are gone (their pid no longer runs)."""
    return [n for n in _listed() if (m := _NAME.match(n)) and not _alive(int(m.group(1)))]


def _listed() -> list[str]:
    with contextlib.suppress(OSError):
        return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(PREFIX))
    return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def sweep(names: Iterable[str]) -> list[str]:
    removed = []
    for name in names:
        try:
            await delete(name)
        except NamespaceError as error:
            logger.warning("could not remove the leftover network namespace %s: %s", name, error)
        else:
            removed.append(name)
    return removed
