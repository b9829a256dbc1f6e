"""Benchmark of the local control plane and of the operator running on it, emulator beside real.

Prints, side by side, from one run, for the API emulator and for a real kube-apiserver + etcd
(``make real-apiserver``; left out, saying why, when not built):
  1. the raw request rate (GET one object, LIST by label, PATCH) with 200 and 2,000 stored
     objects; the emulator's target is >= 1,000 requests/s, flat as objects grow;
  2. operator cycles/s: objects created → handled by the real operator → status written,
     for 200 and 1,000 objects — target >= 100 cycles/s.
Each figure is the median of several rounds (these machines are noisy). The emulator runs in
its own process (``naksha local up``), as in the demo; the real servers are processes anyway.
Clients authenticate as the kubeconfig says (bearer token or client certificate).
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
def local_control_plane(workdir: Path, *, kubelet: bool = False) -> Iterator[tuple[str, Path]]:
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
        # The server's URL (https since the local control plane serves TLS) is in its kubeconfig.
        while not kubeconfig.exists() or not _answers(url := _server(kubeconfig)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the local control plane did not start; see apiserver.log")
            time.sleep(0.1)
        yield url, kubeconfig
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


@contextlib.contextmanager
def real_control_plane(workdir: Path) -> Iterator[tuple[str, Path]]:
    from naksha.local.real import RealControlPlane, ensure

    with RealControlPlane(state_dir=workdir / "real", kubelet=False, binaries=ensure(build=False)) as plane:
        yield plane.url, plane.kubeconfig_path


def session_for(kubeconfig: Path | None) -> aiohttp.ClientSession:
    """A session that authenticates as the kubeconfig's current user (token or client certificate)."""
    if kubeconfig is None:
        return aiohttp.ClientSession()
    config = yaml.safe_load(kubeconfig.read_text())
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
    tls: ssl.SSLContext | bool = False
    if cluster["server"].startswith("https://"):
        directory = Path(tempfile.mkdtemp(prefix="bench-tls-"))
        files = {}
        for key in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
            if key in cluster or key in user:
                files[key] = directory / key
                files[key].write_bytes(base64.b64decode(cluster.get(key) or user[key]))
        tls = ssl.create_default_context(cafile=str(files["certificate-authority-data"]))
        if "client-certificate-data" in files:
            tls.load_cert_chain(str(files["client-certificate-data"]), str(files["client-key-data"]))
    return aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(ssl=tls))


def _server(kubeconfig: Path) -> str:
    try:
        config = yaml.safe_load(kubeconfig.read_text()) or {}
        return str(config["clusters"][0]["cluster"]["server"])
    except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return ""  # not written completely yet


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    if not url:
        return False
    try:
        # Only "is it serving?": the answer's TLS and authentication are checked by the sessions.
        with urllib.request.urlopen(url + "/version", timeout=1, context=ssl._create_unverified_context()):
            return True
    except urllib.error.HTTPError:
        return True  # it answered (401/403 without credentials)
    except OSError:
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


async def rate(session: aiohttp.ClientSession, requests: list[tuple[str, str, Any]]) -> float:
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

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return len(requests) / (time.perf_counter() - started)


async def raw_rates(
    url: str, sizes: list[int], rounds: int, per_round: int, *, kubeconfig: Path | None = None
) -> dict[int, dict[str, float]]:
    results: dict[int, dict[str, float]] = {}
    async with session_for(kubeconfig) as session:
        namespace = "bench-raw"
        await session.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": namespace}})
        filled = 0
        base = f"{url}/api/v1/namespaces/{namespace}/configmaps"
        for size in sizes:
            await fill(session, url, namespace, size, start=filled)
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
                samples = [await rate(session, requests) for _ in range(rounds)]
                results[size][label] = statistics.median(samples)
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
    async with session_for(kubeconfig) as session:
        await session.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": namespace}})
        started = time.perf_counter()

        async def create(index: int) -> None:
            body = {**sample, "metadata": {"name": f"edge-{index}", "namespace": namespace}}
            async with session.post(base, json=body) as response:
                assert response.status == 201, await response.text()

        for offset in range(0, count, 100):
            await asyncio.gather(*(create(i) for i in range(offset, min(offset + 100, count))))
        while True:
            async with session.get(base) as response:
                items = (await response.json())["items"]
            handled = sum(1 for item in items if (item.get("status") or {}).get("phase") == "Accepted")
            if handled == count:
                return count / (time.perf_counter() - started)
            if time.perf_counter() - started > 600:
                raise RuntimeError(f"only {handled}/{count} handled after 600 s")
            await asyncio.sleep(0.05)


Figures = tuple[dict[int, dict[str, float]], dict[int, float]]


def measure(backend: str, workdir: Path, args: argparse.Namespace) -> Figures:
    raw_sizes = [50, 200] if args.quick else [200, 2000]
    cycle_sizes = [50, 100] if args.quick else [200, 1000]
    plane = local_control_plane if backend == "emulator" else real_control_plane
    with plane(_sub(workdir, f"{backend}-raw")) as (url, kubeconfig):
        raw = asyncio.run(raw_rates(url, raw_sizes, args.rounds, args.requests, kubeconfig=kubeconfig))
    run_dir = _sub(workdir, f"{backend}-operator")
    with plane(run_dir) as (url, kubeconfig):
        cycles = operator_cycles(url, kubeconfig, cycle_sizes, run_dir)
    return raw, cycles


def report(results: dict[str, Figures], rounds: int) -> None:
    backends = list(results)
    print(f"Raw API requests/s, {CONCURRENCY} concurrent clients, median of {rounds} rounds")
    header = " | ".join(f"{f'{b} {k}':>16}" for b in backends for k in ("GET", "LIST", "PATCH"))
    print(f"{'objects stored':>15} | {header}")
    sizes = list(results[backends[0]][0])
    for size in sizes:
        row = " | ".join(
            f"{results[b][0][size][k]:>16.0f}" for b in backends for k in ("GET", "LIST by label", "PATCH")
        )
        print(f"{size:>15} | {row}")
    for backend in backends:
        first, last = results[backend][0][sizes[0]], results[backend][0][sizes[-1]]
        print(
            f"{backend} flatness ({sizes[-1]} vs {sizes[0]} objects): GET x{last['GET'] / first['GET']:.2f}, "
            f"PATCH x{last['PATCH'] / first['PATCH']:.2f}"
        )
    print("emulator target: >= 1,000 req/s and ~x1.0")
    print()
    print("Operator: create -> handled -> status written (real kopf operator, its own process)")
    print(f"{'objects':>8} | " + " | ".join(f"{f'{b} cycles/s':>18}" for b in backends))
    for size in results[backends[0]][1]:
        print(f"{size:>8} | " + " | ".join(f"{results[b][1][size]:>18.1f}" for b in backends))
    if len(backends) == 2:
        emulated, real = results["emulator"], results["real"]
        top = sizes[-1]
        print(
            f"emulator / real: GET x{emulated[0][top]['GET'] / real[0][top]['GET']:.1f}, "
            f"PATCH x{emulated[0][top]['PATCH'] / real[0][top]['PATCH']:.1f} at {top} objects; "
            + ", ".join(
                f"cycles x{emulated[1][n] / real[1][n]:.1f} at {n}" for n in emulated[1] if n in real[1]
            )
        )
    print("target: >= 100 cycles/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round and kind")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument(
        "--backend", choices=("both", "emulator", "real"), default="both", help="which control plane(s)"
    )
    args = parser.parse_args()
    backends = ["emulator", "real"] if args.backend == "both" else [args.backend]
    if "real" in backends:
        from naksha.local.real import BinariesMissing, ensure

        try:
            ensure(build=False)
        except BinariesMissing as error:
            if args.backend == "real":
                print(f"real control plane: {error}", file=sys.stderr)
                return 1
            print(f"(real control plane left out: {error})")
            backends.remove("real")
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            results[backend] = measure(backend, Path(tmp), args)
    report(results, args.rounds)
    return 0


def _sub(workdir: Path, name: str) -> Path:
    path = workdir / name
    path.mkdir()
    return path


if __name__ == "__main__":
    raise SystemExit(main())
