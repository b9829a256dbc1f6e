"""The ``pods/portforward`` subresource: the HTTP side of ``kubectl port-forward``.

kubectl ≥ 1.31 first asks for a WebSocket (``GET``, subprotocol ``SPDY/3.1+portforward.k8s.io``)
and tunnels SPDY in its binary messages; older clients, or kubectl when the WebSocket fails,
``POST`` an upgrade to ``SPDY/3.1``. Both are served: after the handshake the bytes go to a
``PortForwardSession`` that opens connections to the pod through the kubelet (``opener``).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import aiohttp.web

from naksha.local.apiserver import errors
from naksha.local.network.portforward import PROTOCOL, WEBSOCKET_PROTOCOL, PortForwardSession

logger = logging.getLogger(__name__)
# (namespace, pod, port) -> a socket connected to that port of the pod
PodOpener = Callable[[str, str, int], Awaitable[socket.socket]]


def _requested_ports(request: aiohttp.web.BaseRequest) -> set[int] | None:
    ports: set[int] = set()
    for value in request.query.getall("ports", []):
        for part in value.split(","):
            try:
                ports.add(int(part))
            except ValueError as error:
                raise errors.bad_request(f"invalid port {part!r}") from error
    return ports or None


async def serve(
    request: aiohttp.web.BaseRequest, pod: dict[str, Any], opener: PodOpener | None
) -> aiohttp.web.StreamResponse:
    if opener is None:
        raise errors.ApiError(503, "ServiceUnavailable", "no kubelet runs pods here: nothing to forward to")
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise errors.bad_request(f"unable to forward port because pod is not running. Current status={phase}")
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    ports = _requested_ports(request)

    async def open_port(port: int) -> socket.socket:
        return await opener(namespace, name, port)

    upgrade = request.headers.get("Upgrade", "").lower()
    if upgrade == "websocket":
        return await _over_websocket(request, open_port, ports)
    if upgrade.startswith("spdy/3.1"):
        return await _over_spdy_upgrade(request, open_port, ports)
    raise errors.bad_request("port-forward needs an Upgrade to SPDY/3.1 or a WebSocket")


async def _over_websocket(
    request: aiohttp.web.BaseRequest,
    open_port: Callable[[int], Awaitable[socket.socket]],
    ports: set[int] | None,
) -> aiohttp.web.StreamResponse:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if WEBSOCKET_PROTOCOL not in offered:
        raise errors.bad_request(f"port-forward over a WebSocket speaks {WEBSOCKET_PROTOCOL} only")
    socket_ = aiohttp.web.WebSocketResponse(protocols=(WEBSOCKET_PROTOCOL,), autoping=True)
    await socket_.prepare(request)

    async def send(frame: bytes) -> None:
        await socket_.send_bytes(frame)

    session = PortForwardSession(open_port, send, ports)
    async for message in socket_:
        if message.type == aiohttp.WSMsgType.BINARY:
            session.feed(message.data)
        elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
            break
        if session.done.done():
            break
    session.close()
    await session.wait()
    await socket_.close()
    return socket_


class _SpdyParser:
    """Takes the raw bytes after the upgrade (aiohttp's payload-parser interface)."""

    def __init__(self, session: PortForwardSession) -> None:
        self.session = session

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.session.feed(data)
        return False, b""

    def feed_eof(self) -> None:
        self.session.close()


async def _over_spdy_upgrade(
    request: aiohttp.web.BaseRequest,
    open_port: Callable[[int], Awaitable[socket.socket]],
    ports: set[int] | None,
) -> aiohttp.web.StreamResponse:
    versions = [v.strip() for v in request.headers.get("X-Stream-Protocol-Version", "").split(",")]
    if PROTOCOL not in versions:
        raise errors.ApiError(
            403, "Forbidden", f"unable to upgrade: no supported stream protocol in {versions}"
        )
    response = aiohttp.web.StreamResponse(
        status=101,
        headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": PROTOCOL},
    )
    await response.prepare(request)
    transport = request.transport
    if transport is None:
        raise errors.ApiError(500, "InternalError", "the connection closed during the upgrade")

    async def send(frame: bytes) -> None:
        if transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        transport.write(frame)

    session = PortForwardSession(open_port, send, ports)
    request.protocol.set_parser(_SpdyParser(session))  # type: ignore[arg-type]
    await session.wait()
    transport.close()
    return response
