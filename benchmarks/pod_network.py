"""Benchmark of pod networking: the userspace forwarders against direct loopback.

The same small TCP server (echo one byte, or swallow a stream and answer its length) runs twice:
on the host's 127.0.0.1 (the reference: what pods had before they got namespaces) and inside a
pod network namespace made by ``naksha.local.network``. Clients are separate processes: on the
host (direct, and host → pod through the host-side forwarder) and inside a second pod's
namespace (pod → pod through its egress forwarder, straight into the server's namespace).
Prints medians of several rounds and the ratios to direct loopback:
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
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from naksha.local.network import NodeNetwork  # noqa: E402
from naksha.local.network.namespaces import missing_requirements  # noqa: E402

T = TypeVar("T")
PORT = 7070
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


CLIENT = """
import socket, sys, time
host, port, connections, mebibytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
started = time.perf_counter()
for _ in range(connections):
    with socket.create_connection((host, port)) as sock:
        sock.sendall(b"e")
        assert sock.recv(1) == b"e"
setup = (time.perf_counter() - started) / connections * 1e6
payload = b"x" * (256 * 1024)
started = time.perf_counter()
with socket.create_connection((host, port)) as sock:
    sock.sendall(b"t")
    for _ in range(mebibytes * 4):
        sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)
    assert int(sock.recv(64)) == mebibytes * 1024 * 1024
print(setup, mebibytes / (time.perf_counter() - started))
"""


def measure(prefix: list[str], host: str, port: int, connections: int, mebibytes: int) -> tuple[float, float]:
    """(microseconds per connection, MiB/s) measured by a client process (under ``prefix``)."""
    command = [*prefix, sys.executable, "-c", CLIENT, host, str(port), str(connections), str(mebibytes)]
    setup, speed = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    return float(setup), float(speed)


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
    server_pod = network.run(network.node.attach(uuid.uuid4().hex, "bench", "server", ports={PORT}))
    client_pod = network.run(network.node.attach(uuid.uuid4().hex, "bench", "client", ports=set()))
    direct_port = _free_port()
    servers = [
        start_server([], "127.0.0.1", direct_port),
        start_server(server_pod.command_prefix(), server_pod.address, PORT),  # inside the pod's namespace
    ]
    paths = {
        "direct loopback": ([], "127.0.0.1", direct_port),
        "host -> pod": ([], server_pod.address, PORT),
        "pod -> pod": (client_pod.command_prefix(), server_pod.address, PORT),
    }
    setup: dict[str, list[float]] = {name: [] for name in paths}
    speed: dict[str, list[float]] = {name: [] for name in paths}
    try:
        for prefix, host, port in paths.values():  # warm up every path
            measure(prefix, host, port, 20, 4)
        for _ in range(args.rounds):  # interleaved, so machine noise hits every path alike
            for name, (prefix, host, port) in paths.items():
                micros, mib = measure(prefix, host, port, args.connections, args.mebibytes)
                setup[name].append(micros)
                speed[name].append(mib)
    finally:
        for server in servers:
            server.kill()
            server.wait()
        network.close()

    print(f"pod networking against direct loopback, medians of {args.rounds} rounds")
    base_setup, base_speed = (
        statistics.median(setup["direct loopback"]),
        statistics.median(speed["direct loopback"]),
    )
    for name in paths:
        micros, mib = statistics.median(setup[name]), statistics.median(speed[name])
        print(f"  {name:16} connection setup {micros:6.0f} us ({micros / base_setup:4.2f}x)   "
              f"throughput {mib:6.0f} MiB/s ({mib / base_speed:4.2f}x)")  # fmt: skip
    from results import record  # this script's own folder (benchmarks/) is first on sys.path

    figures = {
        f"{name.replace(' ', '_')}_setup_ratio": statistics.median(setup[name]) / base_setup for name in paths
    }
    figures |= {
        f"{name.replace(' ', '_')}_throughput_ratio": statistics.median(speed[name]) / base_speed
        for name in paths
    }
    record("pod_network", figures, reference="direct loopback")
    return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
