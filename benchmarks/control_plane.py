"""Benchmark of the local control plane and of the operator running on it.

Prints, side by side, from one run:
  1. the emulator's raw request rate (GET one object, LIST by label, PATCH) with 200 and 2,000
     stored objects — the reference; the target is >= 1,000 requests/s, flat as objects grow;
  2. operator cycles/s: objects created → handled by the real operator → status written,
     for 200 and 1,000 objects — target >= 100 cycles/s.
Each figure is the median of several rounds (these machines are noisy); ratios are printed
next to the reference. Beside the rates, the API server's CPU time per request, which a busy
machine disturbs less than wall-clock rates. The API runs in its own process (``naksha local up``),
as in the demo, and is reached as its kubeconfig says: over TLS with the admin's client
certificate (or, on an older control plane, with its bearer token over HTTP, for comparisons).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
GROUP, VERSION = "naksha.io", "v1alpha1"
CONCURRENCY = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def local_control_plane(workdir: Path, *, kubelet: bool = False) -> Iterator[tuple[str, Path, int]]:
    """``naksha local up`` in its own process; yields its URL, its kubeconfig and its pid."""
    port = free_port()
    kubeconfig = workdir / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "naksha",
            "local",
            "up",
            *([] if kubelet else ["--no-kubelet"]),
            "--port",
            str(port),
            "--kubeconfig",
            str(kubeconfig),
            "--state-dir",
            str(workdir / "state"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "apiserver.log").open("w"),
    )
    try:
        deadline = time.monotonic() + 30
        while not kubeconfig.exists() or not _answers(kubeconfig):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the local control plane did not start; see apiserver.log")
            time.sleep(0.1)
        yield _server(kubeconfig), kubeconfig, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def _server(kubeconfig: Path) -> str:
    return str(yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"])


def ssl_context(kubeconfig: Path) -> ssl.SSLContext | None:
    """TLS with the kubeconfig's CA and client certificate; None for a plain-HTTP server."""
    document = yaml.safe_load(kubeconfig.read_text())
    cluster, user = document["clusters"][0]["cluster"], document["users"][0]["user"]
    if not str(cluster["server"]).startswith("https:"):
        return None
    context = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    if "client-certificate-data" in user:
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
            cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
            key.write_bytes(base64.b64decode(user["client-key-data"]))
            context.load_cert_chain(str(cert), str(key))
    return context


def session(kubeconfig: Path) -> aiohttp.ClientSession:
    """A client with the kubeconfig's credentials: its client certificate, or its bearer token."""
    user = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]
    headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else None
    context = ssl_context(kubeconfig)
    connector = aiohttp.TCPConnector(ssl=context) if context is not None else aiohttp.TCPConnector()
    return aiohttp.ClientSession(connector=connector, headers=headers)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _answers(kubeconfig: Path) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(
            _server(kubeconfig) + "/version", timeout=1, context=ssl_context(kubeconfig)
        ):
            return True
    except (OSError, KeyError, TypeError, IndexError):
        return False


async def fill(session: aiohttp.ClientSession, url: str, namespace: str, count: int, start: int = 0) -> None:
    async def create(index: int) -> None:
        body = {
            "metadata": {"name": f"cm-{index}", "labels": {"bucket": str(index % 10)}},
            "data": {"i": str(index)},
        }
        async with session.post(f"{url}/api/v1/namespaces/{namespace}/configmaps", json=body) as response:
            assert response.status == 201, await response.text()

    for offset in range(start, count, 100):
        await asyncio.gather(*(create(i) for i in range(offset, min(offset + 100, count))))


async def rate(
    session: aiohttp.ClientSession, requests: list[tuple[str, str, Any]], server_pid: int
) -> tuple[float, float]:
    """Requests/s, and the API server's CPU microseconds per request (steadier on a busy machine)."""
    queue = list(reversed(requests))

    async def worker() -> None:
        while queue:
            method, path, body = queue.pop()
            headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else None
            async with session.request(
                method, path, data=json.dumps(body) if body else None, headers=headers
            ) as r:
                await r.read()
                assert r.status < 300, r.status

    started, cpu = time.perf_counter(), cpu_seconds(server_pid)
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed, used = time.perf_counter() - started, cpu_seconds(server_pid) - cpu
    return len(requests) / elapsed, used * 1e6 / len(requests)


async def raw_rates(
    url: str, kubeconfig: Path, server_pid: int, sizes: list[int], rounds: int, per_round: int
) -> dict[int, dict[str, tuple[float, float]]]:
    """Per size and kind: the median requests/s and the median server CPU microseconds per request."""
    results: dict[int, dict[str, tuple[float, float]]] = {}
    async with session(kubeconfig) as client:
        namespace = "bench-raw"
        await client.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": namespace}})
        filled = 0
        base = f"{url}/api/v1/namespaces/{namespace}/configmaps"
        for size in sizes:
            await fill(client, url, namespace, size, start=filled)
            filled = size
            kinds = {
                "GET": [("GET", f"{base}/cm-{i % size}", None) for i in range(per_round)],
                "LIST by label": [
                    ("GET", f"{base}?labelSelector=bucket%3D{i % 10}&limit=20", None)
                    for i in range(per_round // 4)
                ],
                "PATCH": [
                    ("PATCH", f"{base}/cm-{i % size}", {"data": {"v": str(i)}}) for i in range(per_round)
                ],
            }
            results[size] = {}
            for label, requests in kinds.items():
                samples = [await rate(client, requests, server_pid) for _ in range(rounds)]
                results[size][label] = (
                    statistics.median(s[0] for s in samples),
                    statistics.median(s[1] for s in samples),
                )
    return results


def operator_cycles(url: str, kubeconfig: Path, sizes: list[int], workdir: Path) -> dict[int, float]:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "NAKSHA_METRICS_PORT": str(free_port()),
        "NAKSHA_HEALTH_PORT": str(free_port()),
        "NAKSHA_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-f", str(ROOT / "crds")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "wait",
            "--for=condition=Established",
            "crd",
            "-l",
            "app.kubernetes.io/part-of=naksha",
        ],
        check=True,
        capture_output=True,
    )
    log = (workdir / "operator.log").open("w")
    operator = subprocess.Popen([sys.executable, "-m", "naksha", "operator"], env=env, stdout=log, stderr=log)
    try:
        time.sleep(2.0)  # let kopf discover the resources and start its watches
        return {size: asyncio.run(_cycles(url, kubeconfig, size)) for size in sizes}
    finally:
        operator.send_signal(signal.SIGINT)
        operator.wait(timeout=30)


async def _cycles(url: str, kubeconfig: Path, count: int) -> float:
    sample = yaml.safe_load((ROOT / "crds" / "samples" / "edgenode.yaml").read_text())
    namespace = f"bench-op-{count}"
    base = f"{url}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/edgenodes"
    async with session(kubeconfig) as client:
        await client.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": namespace}})
        started = time.perf_counter()

        async def create(index: int) -> None:
            body = {**sample, "metadata": {"name": f"edge-{index}", "namespace": namespace}}
            async with client.post(base, json=body) as response:
                assert response.status == 201, await response.text()

        for offset in range(0, count, 100):
            await asyncio.gather(*(create(i) for i in range(offset, min(offset + 100, count))))
        while True:
            async with client.get(base) as response:
                items = (await response.json())["items"]
            handled = sum(1 for item in items if (item.get("status") or {}).get("phase") == "Accepted")
            if handled == count:
                return count / (time.perf_counter() - started)
            if time.perf_counter() - started > 600:
                raise RuntimeError(f"only {handled}/{count} handled after 600 s")
            await asyncio.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round and kind")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    raw_sizes = [50, 200] if args.quick else [200, 2000]
    cycle_sizes = [50, 100] if args.quick else [200, 1000]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with local_control_plane(workdir) as (url, kubeconfig, pid):
            raw = asyncio.run(raw_rates(url, kubeconfig, pid, raw_sizes, args.rounds, args.requests))
        with local_control_plane(_sub(workdir)) as (url, kubeconfig, _):
            cycles = operator_cycles(url, kubeconfig, cycle_sizes, workdir)
    print(f"Local control plane, {CONCURRENCY} concurrent clients, median of {args.rounds} rounds")
    header = f"{'objects stored':>15} | {'GET req/s':>10} | {'LIST req/s':>10} | {'PATCH req/s':>11}"
    print(f"{header} | server CPU us/request: GET, LIST, PATCH")
    for size, figures in raw.items():
        get, listing, patch = figures["GET"], figures["LIST by label"], figures["PATCH"]
        print(
            f"{size:>15} | {get[0]:>10.0f} | {listing[0]:>10.0f} | {patch[0]:>11.0f} | "
            f"{get[1]:.0f}, {listing[1]:.0f}, {patch[1]:.0f}"
        )
    first = {kind: figures[0] for kind, figures in raw[raw_sizes[0]].items()}
    last = {kind: figures[0] for kind, figures in raw[raw_sizes[-1]].items()}
    print(
        f"flatness ({raw_sizes[-1]} vs {raw_sizes[0]} objects): GET x{last['GET'] / first['GET']:.2f}, "
        f"PATCH x{last['PATCH'] / first['PATCH']:.2f}   (target: >= 1,000 req/s and ~x1.0)"
    )
    print()
    print("Operator: create -> handled -> status written (real kopf operator, its own process)")
    print(f"{'objects':>8} | {'cycles/s':>9} | {'reference: raw PATCH req/s':>27} | ratio")
    reference = last["PATCH"]
    for size, value in cycles.items():
        print(f"{size:>8} | {value:>9.1f} | {reference:>27.0f} | {value / reference:.3f}")
    print("target: >= 100 cycles/s")
    return 0


def _sub(workdir: Path) -> Path:
    path = workdir / "operator-run"
    path.mkdir()
    return path


if __name__ == "__main__":
    raise SystemExit(main())
