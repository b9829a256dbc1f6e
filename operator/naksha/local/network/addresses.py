"""Addresses in 127.0.0.0/8 for pods and Services, unique on the machine while in use.

Several kubelets may run on one machine (test sessions side by side), and an address is a
host-wide listening address, so uniqueness cannot be a per-process counter. Each address in use
is an exclusively ``flock``-ed file in a shared directory: the lock lives exactly as long as the
holder keeps the file open, and the kernel drops it when the holder dies, so a crashed kubelet
never strands an address. A holder removes the file when it releases the address (still holding
the lock), and a taker checks, once locked, that the file it locked is still the one at that path,
so removal never lets two holders share an address. Within a process the allocator moves on
round-robin, so an address just released is the last to be handed out again (stale connections to
it have time to die).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import random
import tempfile
from pathlib import Path

POD_RANGE = "127.100.0.0/16"
SERVICE_RANGE = "127.101.0.0/16"


class AddressesExhausted(OSError):
    """Every address of the range is in use."""


def _lock_directory() -> Path:
    for candidate in (Path("/run/naksha/addresses"), Path(tempfile.gettempdir()) / "naksha-addresses"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    raise OSError("no writable directory for address locks")


class AddressPool:
    """Hands out addresses of one 127/8 range; ``release`` (or the process ending) gives them back."""

    def __init__(self, cidr: str, directory: Path | None = None) -> None:
        self.cidr = cidr
        network = ipaddress.ip_network(cidr)
        if not network.subnet_of(ipaddress.ip_network("127.0.0.0/8")):  # type: ignore[arg-type]
            raise ValueError(f"{cidr} is not inside 127.0.0.0/8")
        self._hosts = [str(h) for h in network.hosts() if not str(h).endswith((".0", ".255"))]
        self._directory = directory or _lock_directory()
        self._held: dict[str, int] = {}
        self._next = random.randrange(len(self._hosts))

    def allocate(self) -> str:
        for _ in range(len(self._hosts)):
            address = self._hosts[self._next]
            self._next = (self._next + 1) % len(self._hosts)
            if address not in self._held and self._take(address):
                return address
        raise AddressesExhausted(f"no free address left in {len(self._hosts)}")

    def reserve(self, address: str) -> bool:
        """Take a given address (a Service's requested clusterIP); False when someone holds it."""
        return address in self._held or self._take(address)

    def _take(self, address: str) -> bool:
        path = self._directory / address
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(path).st_ino != os.fstat(fd).st_ino:
                raise FileNotFoundError(path)  # released and removed between our open and our lock
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            return False
        self._held[address] = fd
        return True

    def release(self, address: str) -> None:
        fd = self._held.pop(address, None)
        if fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._directory / address)  # while still locked: see _take
            os.close(fd)  # closing drops the lock

    def release_all(self) -> None:
        for address in list(self._held):
            self.release(address)

    @property
    def held(self) -> set[str]:
        return set(self._held)
