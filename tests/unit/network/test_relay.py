"""The userspace forwarder: bytes both ways, half-close passed through, nothing left open afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

from naksha.local.network.relay import Forwarder, connect, listening_socket

OTHER_THREADS_MARGIN = 10


async def echo_until_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read()  # everything, up to the client's half-close
    writer.write(data[::-1])
    await writer.drain()
    writer.close()


async def forwarder_to(port: int) -> Forwarder:
    async def upstream(_: socket.socket) -> socket.socket:
        return await connect(socket.socket(socket.AF_INET, socket.SOCK_STREAM), "127.0.0.1", port)

    forwarder = Forwarder(listening_socket("127.0.0.1", 0), upstream, "test")
    await forwarder.start()
    return forwarder


async def test_a_half_closed_request_gets_its_whole_answer_and_both_connections_close():
    server = await asyncio.start_server(echo_until_eof, "127.0.0.1", 0)
    forwarder = await forwarder_to(server.sockets[0].getsockname()[1])
    open_before = len(os.listdir("/proc/self/fd"))
    payload = os.urandom(3 * 1024 * 1024)  # several buffers' worth, so flow control takes part
    for _ in range(50):
        reader, writer = await asyncio.open_connection(*forwarder.address)
        writer.write(payload)
        writer.write_eof()
        assert await reader.read() == payload[::-1]
        writer.close()
    await asyncio.sleep(0.2)
    # A relay that left a socket open would leave 50 or 100 more files; the margin is for the other
    # threads of a test session (its control plane, brokers, operator), which open files meanwhile.
    assert len(os.listdir("/proc/self/fd")) <= open_before + OTHER_THREADS_MARGIN
    assert not forwarder._connections  # every relay finished
    await forwarder.close()
    server.close()


async def test_a_refused_upstream_resets_the_client():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    forwarder = await forwarder_to(port)  # nothing listens there
    reader, writer = await asyncio.open_connection(*forwarder.address)
    writer.write(b"hello")
    with contextlib.suppress(ConnectionResetError):  # a reset, as a closed port gives, or an EOF
        assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await forwarder.close()
