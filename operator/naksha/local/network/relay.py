"""A userspace TCP forwarder on asyncio: listen on one socket, relay each connection to an upstream.

The upstream socket comes from a caller-supplied coroutine, so the same forwarder serves every
direction: host address → pod namespace (the socket is made inside the namespace), pod namespace
→ host (the socket is made on the host), Service address → a ready pod. Bytes are relayed by
two protocols wired to each other, with flow control both ways (a slow reader pauses the other
side) and half-close passed through, so request/response protocols that shut down their write
side still work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

# Given the accepted socket (for SO_ORIGINAL_DST), a connected upstream socket, or None to refuse.
Upstream = Callable[[socket.socket], Awaitable[socket.socket | None]]


class _Half(asyncio.Protocol):
    """One side of a relayed connection; writes what it reads to its peer."""

    def __init__(self, on_made: Callable[[_Half], None] | None = None) -> None:
        self.on_made = on_made
        self.transport: asyncio.Transport | None = None
        self.peer: _Half | None = None
        self.pending: list[bytes] = []
        self.eof = False
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.on_made is not None:
            self.on_made(self)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self.pending.append(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is None or peer.transport is None:
            return True  # passed on when the peer is linked
        if peer.eof:  # both directions are done: nothing more can flow
            peer.transport.close()
            return False
        if peer.transport.can_write_eof():
            peer.transport.write_eof()
        return True  # keep the other direction open until its own end

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    # Flow control: when our peer cannot keep up with what we write to it, we stop reading ours.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.transport.is_closing():
            self.peer.transport.resume_reading()


def _link(a: _Half, b: _Half) -> None:
    a.peer, b.peer = b, a
    for side, other in ((a, b), (b, a)):
        assert other.transport is not None
        for chunk in side.pending:
            other.transport.write(chunk)
        side.pending.clear()
        if side.eof and other.transport.can_write_eof():
            other.transport.write_eof()
    if a.eof and b.eof:
        for side in (a, b):
            assert side.transport is not None
            side.transport.close()


class Forwarder:
    """Accepts on ``listener`` and relays every connection to what ``upstream`` opens."""

    def __init__(self, listener: socket.socket, upstream: Upstream, name: str) -> None:
        self.listener = listener
        self.upstream = upstream
        self.name = name
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.listener.getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.listener.setblocking(False)
        self._server = await loop.create_server(self._accepted, sock=self.listener, backlog=512)

    def _accepted(self) -> asyncio.Protocol:
        return _Half(on_made=self._made)

    def _made(self, downstream: _Half) -> None:
        assert downstream.transport is not None
        downstream.transport.pause_reading()  # until the upstream is there
        task = asyncio.get_running_loop().create_task(self._connect(downstream))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _connect(self, downstream: _Half) -> None:
        transport = downstream.transport
        assert transport is not None
        accepted = transport.get_extra_info("socket")
        try:
            sock = await self.upstream(accepted)
        except OSError as error:
            logger.debug("%s: upstream refused: %s", self.name, error)
            sock = None
        if sock is None:
            transport.abort()  # a reset, as a closed port would give
            return
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.connect_accepted_socket(_Half, sock=sock)
        except OSError:
            sock.close()
            transport.abort()
            return
        if transport.is_closing():
            if upstream.transport is not None:
                upstream.transport.close()
            return
        _link(downstream, upstream)
        transport.resume_reading()
        await asyncio.gather(downstream.closed, upstream.closed)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        for task in list(self._connections):
            task.cancel()
        self.listener.close()


def listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(512)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def connect(sock: socket.socket, host: str, port: int) -> socket.socket:
    """Connect a fresh non-blocking socket (closed again on failure)."""
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except OSError:
        sock.close()
        raise
    return sock
