"""One pod's network: its namespace, its 127/8 address, and the forwarders that join the two.

Isolated (the default where the machine allows it): the pod's processes run in their own network
namespace, so they listen on their container ports as on a real node. The host reaches the pod at
``<address>:<port>``: a listener on the host relays each connection to a socket made inside the
namespace and connected to the same address there (where the whole 127/8 is the pod's own
loopback), so listeners on ``0.0.0.0`` or on the pod's address answer, and listeners on
``127.0.0.1`` only stay private, as on a cluster. Host listeners open for the declared container
and probe ports at once, and for any other port as soon as a process inside listens on it
(``/proc/net/tcp`` of the namespace is polled). The other way, the namespace's nftables rule sends
connections to other 127/8 addresses (and to the host ports the pod was told about, such as the
API server's) to an egress forwarder on the pod's ``127.0.0.1:15001``, which reads the original
destination (``SO_ORIGINAL_DST``) and connects to it from the host, or, when it is another pod of
the node, straight into that pod's namespace (one relay instead of two).

Host (the fallback): no namespace, address 127.0.0.1, nothing forwarded: today's behaviour, said so
in the pod's status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import struct
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from naksha.local.network import namespaces
from naksha.local.network.relay import Forwarder, connect, listening_socket

logger = logging.getLogger(__name__)
HOST_ADDRESS = "127.0.0.1"
_SO_ORIGINAL_DST = 80
_LISTEN = "0A"
_DISCOVERY_SECONDS = 0.5
_HOST_ENDPOINT = re.compile(r"(?:127\.0\.0\.1|localhost):(\d{1,5})\b")


def host_ports_named(texts: Iterable[str]) -> set[int]:
    """Ports of ``127.0.0.1:<port>``/``localhost:<port>`` endpoints in a container's env or arguments."""
    return {int(m.group(1)) for text in texts for m in _HOST_ENDPOINT.finditer(text)}


class PodNetwork:
    """Where a pod's processes run and how it is reached; ``isolated`` False means the host's loopback."""

    def __init__(
        self,
        address: str,
        *,
        netns: str | None = None,
        reason: str = "",
        message: str = "",
        neighbours: Callable[[str], PodNetwork | None] = lambda _: None,
    ) -> None:
        self.neighbours = neighbours  # another isolated pod of the node by its address
        self.address = address
        self.netns = netns
        self.reason = reason
        self.message = message
        self.forwarded: dict[int, Forwarder] = {}
        self._egress: Forwarder | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._discovery: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def isolated(self) -> bool:
        return self.netns is not None

    @property
    def netns_path(self) -> Path | None:
        return namespaces.NETNS_DIR / self.netns if self.netns else None

    def command_prefix(self) -> list[str]:
        """What a container's command runs under: ``nsenter`` into the namespace (which then execs it)."""
        return ["nsenter", f"--net={self.netns_path}", "--"] if self.isolated else []

    def condition(self) -> dict[str, Any]:
        """The pod condition that says how its network is set up (``kubectl describe pod`` shows it)."""
        return {
            "type": "naksha.io/NetworkIsolated",
            "status": "True" if self.isolated else "False",
            "reason": self.reason,
            "message": self.message,
        }

    async def start(self, ports: set[int]) -> None:
        if not self.isolated:
            return
        assert self.netns_path is not None
        self._executor = ThreadPoolExecutor(
            1,
            thread_name_prefix=f"netns-{self.address}",
            initializer=namespaces.setns,
            initargs=(self.netns_path,),
        )
        listener = await self._inside(listening_socket, HOST_ADDRESS, namespaces.EGRESS_PORT)
        self._egress = Forwarder(listener, self._to_original_destination, f"egress of {self.address}")
        await self._egress.start()
        for port in sorted(ports):
            await self.forward(port)
        self._discovery = asyncio.create_task(self._discover(), name=f"ports-of-{self.address}")

    async def allow_host_ports(self, ports: set[int]) -> None:
        """``127.0.0.1:<port>`` inside the pod reaches the host's (the API server, brokers the pod names)."""
        if self.isolated and ports and self.netns is not None:
            await namespaces.add_host_ports(self.netns, ports)

    async def forward(self, port: int) -> None:
        """Open ``<address>:<port>`` on the host into the pod's namespace (once)."""
        if not self.isolated or port in self.forwarded or self._closed:
            return
        try:
            listener = listening_socket(self.address, port)
        except OSError as error:
            logger.warning(
                "pod %s: cannot listen on %s:%d on the host: %s", self.netns, self.address, port, error
            )
            return

        async def into_pod(_: socket.socket) -> socket.socket:
            return await self.open(port)

        forwarder = Forwarder(listener, into_pod, f"{self.address}:{port}")
        self.forwarded[port] = forwarder
        await forwarder.start()

    async def open(self, port: int) -> socket.socket:
        """A socket connected to the pod's ``port``, as from another machine (made inside its namespace)."""
        if not self.isolated:
            return await connect(socket.socket(socket.AF_INET, socket.SOCK_STREAM), HOST_ADDRESS, port)
        sock = await self._inside(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
        return await connect(sock, self.address, port)

    async def _to_original_destination(self, accepted: socket.socket) -> socket.socket:
        """The socket the pod's process meant: its original destination, from the host or the other pod."""
        raw = accepted.getsockopt(socket.SOL_IP, _SO_ORIGINAL_DST, 16)
        port = struct.unpack("!H", raw[2:4])[0]
        host = socket.inet_ntoa(raw[4:8])
        neighbour = self.neighbours(host)
        if neighbour is not None:
            return await neighbour.open(port)
        return await connect(socket.socket(socket.AF_INET, socket.SOCK_STREAM), host, port)

    async def _inside(self, function: Any, *args: Any) -> Any:
        if self._executor is None:
            raise OSError(f"the network of pod {self.address} is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def _discover(self) -> None:
        while not self._closed:
            try:
                ports = await self._inside(_listening_ports, self.address)
            except (OSError, RuntimeError) as error:
                logger.debug("pod %s: reading its sockets failed: %s", self.address, error)
                return
            for port in sorted(ports - set(self.forwarded) - {namespaces.EGRESS_PORT}):
                await self.forward(port)
            await asyncio.sleep(_DISCOVERY_SECONDS)

    async def close(self) -> None:
        self._closed = True
        if self._discovery is not None:
            self._discovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._discovery
        for forwarder in [*self.forwarded.values(), *([self._egress] if self._egress else [])]:
            await forwarder.close()
        self.forwarded.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


def _listening_ports(address: str) -> set[int]:
    """TCP ports listened on for everyone (wildcard) or on ``address``, in the calling thread's namespace."""
    wanted = {"00000000", socket.inet_aton(address)[::-1].hex().upper()}
    ports: set[int] = set()
    for table, wildcard in (("tcp", None), ("tcp6", "0" * 32)):
        with contextlib.suppress(FileNotFoundError), open(f"/proc/thread-self/net/{table}") as lines:
            next(lines, None)
            for line in lines:
                fields = line.split()
                if len(fields) < 4 or fields[3] != _LISTEN:
                    continue
                host, _, port = fields[1].partition(":")
                if host in wanted or host == wildcard:
                    ports.add(int(port, 16))
    return ports
