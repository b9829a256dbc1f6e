"""Benchmark of pod networking: the userspace forwarder into a pod's namespace against direct loopback.

The same small TCP server (echo one byte, or swallow a stream and answer its length) runs twice:
on the host's 127.0.0.1 (the reference: what pods had before they got namespaces) and inside a
pod network namespace made by ``naksha.local.network`` (reached at the pod's address through the
host-side forwarder). Prints medians of several rounds and the forwarder/direct ratios for:
  1. connection setup: connect, one-byte round trip, close (microseconds per connection);
  2. throughput: one connection streaming 64 MiB (MiB/s).
Needs root, ``ip``, ``nft`` and ``nsenter`` (as the kubelet does for namespaces).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from naksha.local.network import NodeNetwork, PodNetwork  # noqa: E402
from naksha.local.network.namespaces import missing_requirements  # noqa: E402

T = TypeVar("T")
PORT = 7070
CHUNK = 256 * 1024
SERVER = """
import socket, sys, threading
def serve(conn):
    with conn:
        kind = conn.recv(1)
        if kind == b"e":
            conn.sendall(b"e")
            return
        total = 0
        while data := conn.recv(1 << 20):
            total += len(data)
        conn.sendall(str(total).encode())
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen(512)
print("ready", flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


def start_server(prefix: list[str], host: str, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [*prefix, sys.executable, "-c", SERVER, host, str(port)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def setup_micros(host: str, port: int, connections: int) -> float:
    started = time.perf_counter()
    for _ in range(connections):
        with socket.create_connection((host, port)) as sock:
            sock.sendall(b"e")
            assert sock.recv(1) == b"e"
    return (time.perf_counter() - started) / connections * 1e6


def throughput_mib(host: str, port: int, mebibytes: int) -> float:
    payload = b"x" * CHUNK
    started = time.perf_counter()
    with socket.create_connection((host, port)) as sock:
        sock.sendall(b"t")
        for _ in range(mebibytes * 1024 * 1024 // CHUNK):
            sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        answer = sock.recv(64)
    assert int(answer) == mebibytes * 1024 * 1024, answer
    return mebibytes / (time.perf_counter() - started)


class NetworkThread:
    """The node network on its own event loop, as the kubelet runs it inside the control plane."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.node = NodeNetwork()
        self.run(self.node.start())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def close(self) -> None:
        self.run(self.node.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=500, help="per round, for connection setup")
    parser.add_argument("--mebibytes", type=int, default=64, help="per round, for throughput")
    args = parser.parse_args()
    missing = missing_requirements()
    if missing:
        print(f"skipped: pods cannot get network namespaces here ({'; '.join(missing)})")
        return 0

    network = NetworkThread()
    pod: PodNetwork = network.run(network.node.attach(uuid.uuid4().hex, "bench", "server", ports={PORT}))
    direct_port = _free_port()
    servers = [
        start_server([], "127.0.0.1", direct_port),
        start_server(pod.command_prefix(), pod.address, PORT),  # inside the pod's namespace
    ]
    try:
        paths = {"direct": ("127.0.0.1", direct_port), "forwarder": (pod.address, PORT)}
        for host, port in paths.values():  # warm up both paths
            setup_micros(host, port, 20)
            throughput_mib(host, port, 4)
        setup: dict[str, list[float]] = {name: [] for name in paths}
        speed: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(args.rounds):  # interleaved, so machine noise hits both alike
            for name, (host, port) in paths.items():
                setup[name].append(setup_micros(host, port, args.connections))
                speed[name].append(throughput_mib(host, port, args.mebibytes))
    finally:
        for server in servers:
            server.kill()
            server.wait()
        network.close()

    print(f"forwarder into pod {pod.address} vs direct loopback, medians of {args.rounds} rounds")
    direct_setup, forward_setup = statistics.median(setup["direct"]), statistics.median(setup["forwarder"])
    direct_speed, forward_speed = statistics.median(speed["direct"]), statistics.median(speed["forwarder"])
    print(f"  connection setup  direct {direct_setup:8.0f} us   forwarder {forward_setup:8.0f} us   "
          f"ratio {forward_setup / direct_setup:5.2f}x slower")  # fmt: skip
    print(f"  throughput        direct {direct_speed:8.0f} MiB/s forwarder {forward_speed:8.0f} MiB/s "
          f"ratio {forward_speed / direct_speed:5.2f} of direct")  # fmt: skip
    return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
