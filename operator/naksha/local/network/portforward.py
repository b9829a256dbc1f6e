"""The server side of ``portforward.k8s.io``: what a kubelet does for ``kubectl port-forward``.

Over one SPDY/3.1 session (carried by an HTTP upgrade, or tunnelled in WebSocket binary
messages as kubectl ≥ 1.31 tries first), the client opens two streams per forwarded connection,
both with headers ``port`` and ``requestid``: an ``error`` stream and a ``data`` stream. Every
stream is accepted (SYN_REPLY) at once, because the client waits for that. When a request's data
stream is there, a connection to the pod's port is opened and bytes are relayed both ways;
half-close travels as FIN. A connection that cannot be made is reported on the error stream, as
the kubelet does, and kubectl prints it. PINGs are answered.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from naksha.local.network.spdy import (
    GOAWAY,
    MAX_DATA,
    PING,
    RST_STREAM,
    SYN_STREAM,
    Frame,
    FrameReader,
    FrameWriter,
    ProtocolError,
)

logger = logging.getLogger(__name__)
PROTOCOL = "portforward.k8s.io"
WEBSOCKET_PROTOCOL = f"SPDY/3.1+{PROTOCOL}"
_CANCEL = 5  # RST_STREAM status CANCEL
_QUEUE_HIGH = 64  # frames waiting to be sent before relays pause reading their pod socket

Opener = Callable[[int], Awaitable[socket.socket]]  # pod port -> a connected socket
Sender = Callable[[bytes], Awaitable[None]]


@dataclass
class _Request:
    key: str
    port: int = 0
    error_stream: int | None = None
    data_stream: int | None = None
    writer: asyncio.StreamWriter | None = None
    early: list[bytes] = field(default_factory=list)  # client data that came before the pod connection
    client_done: bool = False
    task: asyncio.Task[None] | None = None


class PortForwardSession:
    """Feed it the client's bytes with ``feed``; it sends frames with ``send`` and ends with ``done``."""

    def __init__(self, open_port: Opener, send: Sender, allowed_ports: set[int] | None = None) -> None:
        self.open_port = open_port
        self.send = send
        self.allowed_ports = allowed_ports
        self.reader = FrameReader()
        self.writer = FrameWriter()
        self.done = asyncio.get_running_loop().create_future()
        self._outgoing: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._drained = asyncio.Event()
        self._drained.set()
        self._requests: dict[str, _Request] = {}
        self._by_stream: dict[int, _Request] = {}
        self._last_stream = 0
        self._sending = asyncio.get_running_loop().create_task(self._send_all())

    def feed(self, data: bytes) -> None:
        try:
            frames = self.reader.feed(data)
            for frame in frames:
                self._handle(frame)
        except (ProtocolError, ValueError, IndexError) as error:  # struct/zlib errors of a broken peer
            logger.warning("port-forward: closing a session the client broke: %s", error)
            self.close()

    def _queue(self, frame: bytes) -> None:
        self._outgoing.put_nowait(frame)
        if self._outgoing.qsize() > _QUEUE_HIGH:
            self._drained.clear()

    async def _send_all(self) -> None:
        try:
            while (frame := await self._outgoing.get()) is not None:
                await self.send(frame)
                if self._outgoing.qsize() <= _QUEUE_HIGH // 2:
                    self._drained.set()
        except (ConnectionError, RuntimeError) as error:
            logger.debug("port-forward: the client went away: %s", error)
        finally:
            self.close()

    def _handle(self, frame: Frame) -> None:
        if not frame.control:
            self._client_data(frame)
        elif frame.kind == SYN_STREAM:
            self._open_stream(frame)
        elif frame.kind == PING:
            self._queue(self.writer.echo(frame))
        elif frame.kind == RST_STREAM:
            request = self._by_stream.get(frame.stream_id)
            if request is not None:
                self._finish(request)
        elif frame.kind == GOAWAY:
            self.close()
        # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do (spdystream does no flow control either)

    def _open_stream(self, frame: Frame) -> None:
        headers = self.reader.headers(frame)
        stream_id = frame.stream_id
        self._last_stream = max(self._last_stream, stream_id)
        self._queue(self.writer.syn_reply(stream_id))
        key = headers.get("requestid", str(stream_id))
        request = self._requests.setdefault(key, _Request(key))
        self._by_stream[stream_id] = request
        try:
            request.port = int(headers.get("port", ""))
        except ValueError:
            self._fail(request, stream_id, f"invalid port {headers.get('port')!r}")
            return
        if headers.get("streamtype") == "error":
            request.error_stream = stream_id
        elif headers.get("streamtype") == "data":
            request.data_stream = stream_id
            request.task = asyncio.get_running_loop().create_task(self._relay(request))
        else:
            self._queue(self.writer.rst_stream(stream_id, _CANCEL))

    def _client_data(self, frame: Frame) -> None:
        request = self._by_stream.get(frame.stream_id)
        if request is None or frame.stream_id != request.data_stream:
            return  # the error stream only ever carries the client's FIN
        if frame.payload:
            if request.writer is not None:
                request.writer.write(frame.payload)
            else:
                request.early.append(frame.payload)
        if frame.fin:
            request.client_done = True
            if request.writer is not None and request.writer.can_write_eof():
                request.writer.write_eof()

    def _fail(self, request: _Request, stream_id: int, message: str) -> None:
        target = request.error_stream if request.error_stream is not None else stream_id
        self._queue(self.writer.data(target, message.encode(), fin=True))
        if request.data_stream is not None:
            self._queue(self.writer.data(request.data_stream, b"", fin=True))

    async def _relay(self, request: _Request) -> None:
        try:
            await self._forward(request)
        finally:
            # Done with this connection: a long session forwards many, so forget each one.
            self._requests.pop(request.key, None)
            for stream in (request.error_stream, request.data_stream):
                self._by_stream.pop(stream or 0, None)

    async def _forward(self, request: _Request) -> None:
        assert request.data_stream is not None
        stream = request.data_stream
        if self.allowed_ports is not None and request.port not in self.allowed_ports:
            self._fail(request, stream, f"port {request.port} was not asked for")
            return
        try:
            sock = await self.open_port(request.port)
            reader, writer = await asyncio.open_connection(sock=sock)
        except OSError as error:
            self._fail(request, stream, f"error forwarding port {request.port} to pod: {error}")
            return
        request.writer = writer
        for chunk in request.early:
            writer.write(chunk)
        request.early.clear()
        if request.client_done and writer.can_write_eof():
            writer.write_eof()
        try:
            while chunk := await reader.read(MAX_DATA):
                self._queue(self.writer.data(stream, chunk))
                await self._drained.wait()
        except OSError as error:
            logger.debug("port-forward: pod port %d: %s", request.port, error)
        finally:
            self._queue(self.writer.data(stream, b"", fin=True))
            writer.close()

    def _finish(self, request: _Request) -> None:
        if request.writer is not None:
            request.writer.close()
        if request.task is not None:
            request.task.cancel()

    def close(self) -> None:
        if self.done.done():
            return
        for request in self._requests.values():
            self._finish(request)
        self._outgoing.put_nowait(None)
        self.done.set_result(None)

    async def wait(self) -> None:
        """Until the session ends; cancelling it (the server shutting down) ends the session too."""
        try:
            await self.done
            await self._sending
        finally:
            self.close()
            self._sending.cancel()
            for request in self._requests.values():
                if request.task is not None:
                    request.task.cancel()
