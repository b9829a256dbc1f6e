"""Benchmark of AgentRuns: runs/s completed through a three-node playbook by the real operator.

Prints, side by side, from one run:
  1. the emulator's raw request rate (GET and PATCH of one object) — the reference;
  2. the API requests one run needs, counted by the emulator's own ``/metrics``
     (``apiserver_request_total``, watches and this benchmark's own requests left out);
  3. the floor: raw PATCH rate / requests per run — the runs/s the API alone would allow;
  4. AgentRuns/s completed for 200 and 1,000 runs (observe an InsightStream detector → annotate
     the run's own ConfigMap → end), and their ratio to the floor. Target: >= 0.6 x the floor.
Figures are medians of several rounds (these machines are noisy). The API and the operator run
in their own processes, as in the demo.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

import aiohttp  # noqa: E402
from benchmarks.control_plane import free_port, local_control_plane, raw_rates  # noqa: E402
from benchmarks.control_plane import session_for as session  # noqa: E402

GROUP, VERSION = "naksha.io", "v1alpha1"
POLL_SECONDS = 0.2
GRAPH = {
    "start": "observe",
    "nodes": [
        {
            "name": "observe",
            "type": "observe",
            "wpk": "query-metric",
            "params": {"stream": "bench", "detector": "p99"},
            "next": "act",
        },
        {
            "name": "act",
            "type": "act",
            "wpk": "annotate",
            "params": {"annotations": {"bench.naksha.io/touched": "anomalous=${state.anomalous}"}},
            "next": "done",
        },
        {"name": "done", "type": "end"},
    ],
}


def served(text: str) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels, value = line.rsplit(" ", 1)
        fields = dict(part.split("=", 1) for part in labels[labels.index("{") + 1 : -1].split(","))
        resource = fields["resource"].strip('"')
        subresource = fields["subresource"].strip('"')
        verb = fields["verb"].strip('"')
        code = fields["code"].strip('"')
        key = (
            verb if code < "300" else f"{verb}:{code}",
            f"{resource}/{subresource}" if subresource else resource,
        )
        counts[key] += int(float(value))
    return counts


async def snapshot(session: aiohttp.ClientSession, url: str) -> Counter[tuple[str, str]]:
    async with session.get(f"{url}/metrics") as response:
        return served(await response.text())


async def prepare(session: aiohttp.ClientSession, url: str, namespace: str, count: int) -> None:
    await session.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": namespace}})
    stream = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InsightStream",
        "metadata": {"name": "bench"},
        "spec": {
            "source": {"type": "http", "http": {"port": 18999}},
            "replicas": 0,
            "detectors": [
                {
                    "name": "p99",
                    "metric": "latency",
                    "method": "threshold",
                    "params": {"threshold": {"above": 1}},
                }
            ],
        },
    }
    streams = f"{url}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/insightstreams"
    async with session.post(streams, json=stream) as response:
        assert response.status == 201, await response.text()
    async with session.patch(
        f"{streams}/bench/status",
        json={"status": {"detectors": {"p99": {"active": 1}}}},
        headers={"Content-Type": "application/merge-patch+json"},
    ) as response:
        assert response.status == 200, await response.text()

    async def target(index: int) -> None:
        body = {"metadata": {"name": f"target-{index}"}, "data": {"i": str(index)}}
        async with session.post(f"{url}/api/v1/namespaces/{namespace}/configmaps", json=body) as response:
            assert response.status == 201, await response.text()

    for offset in range(0, count, 100):
        await asyncio.gather(*(target(i) for i in range(offset, min(offset + 100, count))))


def api_server_pid(url: str) -> int:
    """The ``naksha local up`` process serving ``url`` (its port is on its command line)."""
    port = url.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"local" in argv and b"up" in argv and b"--port" in argv and port.encode() in argv:
            return int(proc.name)
    raise RuntimeError(f"no local control plane process serves {url}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_round(
    url: str, kubeconfig: Path, count: int, label: str, *, breakdown: bool = False
) -> tuple[float, float]:
    """Runs/s for ``count`` runs, and the API requests one run needed."""
    namespace = f"bench-agent-{label}"
    runs_url = f"{url}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/agentruns"
    async with session(kubeconfig) as client:
        await prepare(client, url, namespace, count)
        before = await snapshot(client, url)
        polls = 0
        started = time.perf_counter()

        async def create(index: int) -> None:
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "AgentRun",
                "metadata": {"name": f"run-{index}"},
                "spec": {"graph": GRAPH, "target": {"kind": "ConfigMap", "name": f"target-{index}"}},
            }
            async with client.post(runs_url, json=body) as response:
                assert response.status == 201, await response.text()

        for offset in range(0, count, 100):
            await asyncio.gather(*(create(i) for i in range(offset, min(offset + 100, count))))
        while True:
            polls += 1
            async with client.get(runs_url) as response:
                items = (await response.json())["items"]
            phases = Counter((item.get("status") or {}).get("phase") for item in items)
            if phases["Succeeded"] == count:
                break
            failed = {p: n for p, n in phases.items() if p in ("Failed", "Refused", "Rejected")}
            if failed:
                sample = next(i for i in items if (i.get("status") or {}).get("phase") in failed)
                raise RuntimeError(f"runs ended badly: {failed}; e.g. {sample['status'].get('message')}")
            if time.perf_counter() - started > 900:
                raise RuntimeError(f"only {phases['Succeeded']}/{count} runs finished after 900 s")
            await asyncio.sleep(POLL_SECONDS)
        elapsed = time.perf_counter() - started
        after = await snapshot(client, url)
    delta = after - before
    own = Counter({("POST", "agentruns"): count, ("LIST", "agentruns"): polls})
    operator = {key: n for key, n in (delta - own).items() if key[0] != "WATCH"}
    if breakdown:
        for (verb, resource), n in sorted(operator.items(), key=lambda item: -item[1]):
            print(f"  {verb:>6} {resource:<24} {n / count:5.2f} per run", file=sys.stderr)
    return count / elapsed, sum(operator.values()) / count


def run_operator(kubeconfig: Path, workdir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": str(ROOT / "operator"),
        "NAKSHA_METRICS_PORT": str(free_port()),
        "NAKSHA_HEALTH_PORT": str(free_port()),
        "NAKSHA_LOG_LEVEL": "WARNING",
        "NAKSHA_AGENT_RATE_LIMIT": "1000000",  # every run has its own target; no refusal expected
    }
    for command in (
        ["apply", "-f", str(ROOT / "crds")],
        ["wait", "--for=condition=Established", "crd", "-l", "app.kubernetes.io/part-of=naksha"],
    ):
        kubectl = ["kubectl", "--kubeconfig", str(kubeconfig), *command]
        subprocess.run(kubectl, check=True, capture_output=True)
    log = (workdir / "operator.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "naksha", "operator"], env=env, stdout=log, stderr=log)
    time.sleep(2.0)  # let kopf discover the resources and start its watches
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--breakdown", action="store_true", help="print the requests per run by verb")
    args = parser.parse_args()
    sizes = [50, 100] if args.quick else [200, 1000]
    results: dict[int, list[tuple[float, float, float, float]]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "raw").mkdir()
        with local_control_plane(workdir / "raw") as (url, kubeconfig):
            raw = asyncio.run(raw_rates(url, [sizes[-1]], args.rounds, 2000, kubeconfig=kubeconfig))[
                sizes[-1]
            ]
        (workdir / "runs").mkdir()
        with local_control_plane(workdir / "runs") as (url, kubeconfig):
            operator = run_operator(kubeconfig, workdir)
            api_pid = api_server_pid(url)
            try:
                for round_number in range(args.rounds):
                    for size in sizes:
                        before = cpu_seconds(operator.pid), cpu_seconds(api_pid)
                        rate, per_run = asyncio.run(
                            one_round(
                                url, kubeconfig, size, f"{size}-{round_number}", breakdown=args.breakdown
                            )
                        )
                        operator_ms = (cpu_seconds(operator.pid) - before[0]) * 1000 / size
                        api_ms = (cpu_seconds(api_pid) - before[1]) * 1000 / size
                        results[size].append((rate, per_run, operator_ms, api_ms))
            finally:
                operator.send_signal(signal.SIGINT)
                operator.wait(timeout=60)
    print(f"Reference: emulator raw rate, median of {args.rounds} rounds")
    print(f"  GET {raw['GET']:.0f} req/s, PATCH {raw['PATCH']:.0f} req/s")
    print()
    print("AgentRuns through observe -> act -> end (real operator, executor operator)")
    header = f"{'runs':>6} | {'runs/s':>7} | {'requests/run':>12} | {'floor runs/s':>12} | {'ratio':>5}"
    print(f"{header} | CPU ms/run: operator, API | API-bound ceiling runs/s")
    for size, samples in results.items():
        rate, per_run, operator_ms, api_ms = (statistics.median(s[i] for s in samples) for i in range(4))
        floor = raw["PATCH"] / per_run
        figures = f"{rate:>7.1f} | {per_run:>12.1f} | {floor:>12.1f} | {rate / floor:>5.2f}"
        print(f"{size:>6} | {figures} | {operator_ms:>9.1f}, {api_ms:.1f} | {1000 / api_ms:.0f}")
    print("floor = raw PATCH req/s / requests per run;  target: >= 0.6 x the floor")
    print("API-bound ceiling = what the API process could serve if the operator cost nothing")
    print(
        "(its one core / its CPU per run: a run's writes are larger than raw PATCHes and fan out to watches)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
