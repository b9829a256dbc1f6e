"""Loopback ports for servers this machine's processes start: picked so no one else can take them.

A port found free by binding port 0 and closing the socket comes from the kernel's ephemeral
range, where every outgoing connection also takes its port: between the pick and the server's own
bind, a client socket (of the tests, the operator, a broker) can take it, and the server fails to
start. So ports are picked below that range, and each is ``flock``-ed in a directory shared by
every process on the machine that picks ports this way (the local control plane, the real one,
the demo's stage, tansu, the test sessions running side by side), held until the picking process
ends: two of them never pick the same port.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import tempfile
from pathlib import Path

LOWEST_PORT = 20000
LOCK_DIRECTORY = Path(tempfile.gettempdir()) / "naksha-ports"
ATTEMPTS = 200
_held: dict[int, int] = {}  # port -> the descriptor of its lock file, open while this process runs


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (where bind(0) and outgoing connections pick)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def reserve_port() -> int:
    """A loopback port nobody listens on now, reserved for this process on the whole machine."""
    high = ephemeral_low()
    if high - LOWEST_PORT >= 1000 and _lock_directory():
        for _ in range(ATTEMPTS):
            port = random.randrange(LOWEST_PORT, high)
            if port in _held:
                continue
            try:
                # Read-only is enough for flock, so a lock file another user created serves too.
                fd = os.open(LOCK_DIRECTORY / str(port), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError:  # a directory this user may not write in: the kernel's pick below
                break
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
            except OSError:  # locked by another process, or bound by someone else
                os.close(fd)
                continue
            _held[port] = fd
            return port
    with socket.socket() as sock:  # an unusual port range or no lock directory: the kernel's pick
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lock_directory() -> bool:
    """The shared lock directory exists, writable by every user as ``/tmp`` is (sticky)."""
    try:
        LOCK_DIRECTORY.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    with contextlib.suppress(OSError):  # only its owner may, and only the first time matters
        if LOCK_DIRECTORY.stat().st_uid == os.getuid():
            LOCK_DIRECTORY.chmod(0o1777)
    return True
