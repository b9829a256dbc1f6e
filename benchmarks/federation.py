"""Benchmark of the federation hub: many simulated edge agents against one ``naksha hub`` process.

One local control plane (the API emulator, its own process), one hub process (self-signed TLS),
and N simulated agents spread over several agent processes (``benchmarks/federation_agents.py``,
asyncio, each with its own HTTPS connection pool), each agent with its own Ed25519 key and
bootstrap token; the agent processes' event-loop lag is printed so a saturated client shows.
Prints:
  1. registrations/s (N agents registering, 64 at a time in all);
  2. heartbeats/s sustained with every agent heartbeating once a second, p50/p99 latency, the
     hub's CPU and the machine's load average during that window;
  3. API requests per node per minute during the steady heartbeat phase, counted by the
     emulator's own ``/metrics`` (writes of EdgeNode status, and everything the hub sent);
     target: at most one status write per node per offlineAfter/4 (2 m / 4 = 30 s by default);
  4. trigger round trip p50 through the real operator: an AgentRun's ``edge-exec`` act
     checkpointed by the engine → signed by the hub → long-polled and verified by an agent →
     its result recorded on the AgentRun by ``edge-result``;
and beside them the defaults of Open Cluster Management's cluster lease and KubeEdge's heartbeat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

import yaml  # noqa: E402
from benchmarks.agent import snapshot  # noqa: E402
from benchmarks.control_plane import session_for as api_session  # noqa: E402
from benchmarks.federation_agents import percentile  # noqa: E402
from benchmarks.federation_triggers import NAMESPACE, measure_triggers  # noqa: E402

from naksha.domain.federation import tokens  # noqa: E402

# Defaults of the references, read in their sources:
# - Open Cluster Management: ManagedCluster spec.leaseDurationSeconds defaults to 60 s
#   (open-cluster-management-io/api, cluster/v1/types.go); the hub's lease controller sets
#   ManagedClusterConditionAvailable to Unknown after 5 x leaseDurationSeconds = 300 s without a
#   renewal (open-cluster-management-io/registration, pkg/hub/lease/controller.go, leaseDurationTimes).
# - KubeEdge: EdgeCore's edgeHub heartbeat defaults to 15 s (kubeedge/kubeedge,
#   pkg/apis/componentconfig/edgecore/v1alpha2/default.go, EdgeHub.Heartbeat).
REFERENCES = (
    "OCM cluster lease: renewed every 60 s (spec.leaseDurationSeconds),"
    " Available=Unknown after 5 x 60 = 300 s [open-cluster-management-io/api cluster/v1/types.go;"
    " open-cluster-management-io/registration pkg/hub/lease/controller.go]",
    "KubeEdge edgeHub heartbeat: every 15 s"
    " [kubeedge/kubeedge pkg/apis/componentconfig/edgecore/v1alpha2/default.go]",
)


@contextlib.contextmanager
def control_plane(workdir: Path) -> Iterator[tuple[str, Path]]:
    """The local control plane (emulator, no kubelet) in its own process; its URL from its kubeconfig."""
    kubeconfig = workdir / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "naksha",
            "local",
            "up",
            "--no-kubelet",
            "--kubeconfig",
            str(kubeconfig),
            "--state-dir",
            str(workdir / "state"),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT / "operator")},
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "apiserver.log").open("w"),
    )
    try:
        deadline = time.monotonic() + 120
        while not kubeconfig.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local control plane did not start; see {workdir / 'apiserver.log'}")
            time.sleep(0.2)
        time.sleep(0.5)
        config = yaml.safe_load(kubeconfig.read_text())
        yield str(config["clusters"][0]["cluster"]["server"]), kubeconfig
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def start_hub(workdir: Path, kubeconfig: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    port_file = workdir / "hub.port"
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": str(ROOT / "operator"),
        "NAKSHA_HUB_RATE_PER_ADDRESS": "1000000",
        "NAKSHA_HUB_BURST_PER_ADDRESS": "1000000",
        "NAKSHA_HUB_REDELIVER_AFTER": "30",
        # The trigger round trips run back to back from one node: measure the hub, not its limiter.
        "NAKSHA_HUB_RATE_PER_NODE": "1000",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "naksha",
            "hub",
            "--namespace",
            NAMESPACE,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--self-signed",
            str(workdir / "tls"),
            "--port-file",
            str(port_file),
        ],
        env=env,
        stdout=(workdir / "hub.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the hub did not start; see {workdir / 'hub.log'}")
        time.sleep(0.2)
    return process, f"https://127.0.0.1:{port_file.read_text()}", str(workdir / "tls" / "tls.crt")


def api_counts(counts: Counter[tuple[str, str]]) -> tuple[int, int]:
    status_writes = sum(
        n for (verb, resource), n in counts.items() if resource == "edgenodes/status" and verb == "PATCH"
    )
    hub_requests = sum(
        n for (verb, resource), n in counts.items() if verb not in ("WATCH",) and resource != ""
    )
    return status_writes, hub_requests


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Workers:
    """The agent processes (``benchmarks/federation_agents.py``), spoken to one JSON line at a time."""

    def __init__(self, count: int) -> None:
        script = str(ROOT / "benchmarks" / "federation_agents.py")
        self.processes = [
            subprocess.Popen(
                [sys.executable, script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
            )
            for _ in range(count)
        ]

    def send(self, messages: list[dict[str, Any]]) -> None:
        for process, message in zip(self.processes, messages, strict=True):
            assert process.stdin is not None
            process.stdin.write(json.dumps(message) + "\n")
            process.stdin.flush()

    async def receive(self) -> list[dict[str, Any]]:
        async def one(process: subprocess.Popen[str]) -> dict[str, Any]:
            assert process.stdout is not None
            line = await asyncio.to_thread(process.stdout.readline)
            if not line:
                raise RuntimeError(f"agent process {process.pid} ended early (exit {process.wait()})")
            answer: dict[str, Any] = json.loads(line)
            return answer

        return list(await asyncio.gather(*(one(process) for process in self.processes)))

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()


async def run(
    args: argparse.Namespace, url: str, kubeconfig: Path, hub: tuple[int, str], ca: str
) -> dict[str, Any]:
    os.environ["KUBECONFIG"] = str(kubeconfig)
    from naksha.kube import Kube
    from naksha.services.hub.store import HubStore

    hub_pid, hub_url = hub
    key = HubStore(Kube(), NAMESPACE).signing_key(create=False)
    nodes = [f"edge-{i:04d}" for i in range(args.nodes)]
    bootstraps = [
        [node, tokens.mint_bootstrap(key, namespace=NAMESPACE, node=node, ttl=3600, now=time.time())]
        for node in nodes
    ]
    workers = Workers(args.processes)
    try:
        shares = [bootstraps[i :: args.processes] for i in range(args.processes)]
        started = time.monotonic()
        workers.send(
            [
                {"hub": hub_url, "ca": ca, "agents": share, "concurrency": max(1, 64 // args.processes)}
                for share in shares
            ]
        )
        await workers.receive()
        registrations = args.nodes / (time.monotonic() - started)

        # Heartbeats: a warm-up (the first status write of each node after registration), then the
        # steady window whose latencies, API requests and hub CPU are counted.
        measure_from = time.time() + args.warmup
        until = measure_from + args.seconds
        workers.send([{"measureFrom": measure_from, "until": until}] * args.processes)
        async with api_session(kubeconfig) as api:
            await asyncio.sleep(max(0.0, measure_from - time.time()))
            before, hub_cpu, load_before = await snapshot(api, url), cpu_seconds(hub_pid), os.getloadavg()
            window_started = time.monotonic()
            await asyncio.sleep(max(0.0, until - time.time()))
            window = time.monotonic() - window_started
            after, hub_cpu = await snapshot(api, url), cpu_seconds(hub_pid) - hub_cpu
            load_after = os.getloadavg()
        answers = await workers.receive()
    finally:
        workers.close()
    latencies = [value for answer in answers for value in answer["latencies"]]
    writes, requests = api_counts(after - before)
    trips: dict[str, list[float]] = {}
    if args.triggers:
        trips = await measure_triggers(args.triggers, url, kubeconfig, hub_url, ca, key)
    return {
        "nodes": args.nodes,
        "agentProcesses": args.processes,
        "registrationsPerSecond": round(registrations, 1),
        "heartbeatsPerSecond": round(len(latencies) / window, 1),
        "heartbeatFailures": dict(sum((Counter(answer["failures"]) for answer in answers), Counter())),
        "heartbeatP50Ms": round(percentile(latencies, 0.5) * 1000, 1),
        "heartbeatP99Ms": round(percentile(latencies, 0.99) * 1000, 1),
        "hubCpuPercent": round(100 * hub_cpu / window, 1),
        "hubCpuMsPerHeartbeat": round(1000 * hub_cpu / max(1, len(latencies)), 3),
        "agentCpuPercent": round(100 * sum(a["cpuSeconds"] for a in answers) / window, 1),
        "agentLoopLagP99Ms": max(answer["lagP99Ms"] for answer in answers),
        "loadAverage": [round(value, 2) for value in (load_before[0], load_after[0])],
        "statusWritesPerNodePerMinute": round(writes / args.nodes / (window / 60), 3),
        "apiRequestsPerNodePerMinute": round(requests / args.nodes / (window / 60), 3),
        "triggerActToResultP50Ms": _median_ms(trips.get("actToResult", [])),
        "triggerActToResultP90Ms": _p90_ms(trips.get("actToResult", [])),
        "triggerRequestToResultP50Ms": _median_ms(trips.get("requestToResult", [])),
        "triggerCreateToEndP50Ms": _median_ms(trips.get("createToEnd", [])),
        "triggerRoundTrips": len(trips.get("actToResult", [])),
    }


def _p90_ms(values: list[float]) -> float | None:
    return round(percentile(values, 0.9) * 1000, 1) if values else None


def _median_ms(values: list[float]) -> float | None:
    return round(statistics.median(values) * 1000, 1) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4, help="agent processes the nodes are spread over")
    parser.add_argument("--seconds", type=float, default=60.0, help="steady heartbeat window")
    parser.add_argument("--warmup", type=float, default=30.0, help="lets every first status write land first")
    parser.add_argument("--triggers", type=int, default=20, help="AgentRuns through the real operator")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="naksha-federation-bench-") as directory:
        workdir = Path(directory)
        os.environ["NAKSHA_BENCH_WORKDIR"] = directory
        with control_plane(workdir) as (url, kubeconfig):
            env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
            subprocess.run(
                ["kubectl", "apply", "-f", str(ROOT / "crds")], env=env, check=True, capture_output=True
            )
            namespace = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
            subprocess.run(
                ["kubectl", "apply", "-f", "-"],
                input=namespace.encode(),
                env=env,
                check=True,
                capture_output=True,
            )
            hub, hub_url, ca = start_hub(workdir, kubeconfig)
            try:
                figures = asyncio.run(run(args, url, kubeconfig, (hub.pid, hub_url), ca))
            finally:
                hub.send_signal(signal.SIGTERM)
                hub.wait(timeout=30)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    f = figures
    print(
        f"federation hub, {f['nodes']} simulated agents in {f['agentProcesses']} asyncio processes,"
        f" one hub process; load average {f['loadAverage'][0]} -> {f['loadAverage'][1]}"
        f" on {os.cpu_count()} cores"
    )
    rows = (
        ("registrations/s", f["registrationsPerSecond"], ""),
        (
            "heartbeats/s (1 Hz per agent)",
            f["heartbeatsPerSecond"],
            f"failures {sum(f['heartbeatFailures'].values())} {f['heartbeatFailures'] or ''}",
        ),
        ("heartbeat p50 / p99 (ms)", f"{f['heartbeatP50Ms']} / {f['heartbeatP99Ms']}", "target p99 < 50 ms"),
        (
            "hub CPU (% of one core)",
            f["hubCpuPercent"],
            f"during the steady window; {f['hubCpuMsPerHeartbeat']} ms of CPU per heartbeat",
        ),
        (
            "agents CPU (% of one core)",
            f["agentCpuPercent"],
            f"their event-loop lag p99 {f['agentLoopLagP99Ms']} ms",
        ),
        ("status writes /node/min", f["statusWritesPerNodePerMinute"], "target <= 2 (offlineAfter/4 = 30 s)"),
        ("hub API requests /node/min", f["apiRequestsPerNodePerMinute"], "watches excluded"),
        (
            "trigger round trip p50 / p90 (ms)",
            f"{f['triggerActToResultP50Ms']} / {f['triggerActToResultP90Ms']}",
            f"engine's act -> edge result recorded on the AgentRun ({f['triggerRoundTrips']} runs)",
        ),
        (
            "  of which hub + agent (ms)",
            f["triggerRequestToResultP50Ms"],
            "trigger request seen -> result recorded in it; the rest is the engine's re-check",
        ),
        ("AgentRun create -> end p50 (ms)", f["triggerCreateToEndP50Ms"], "the same runs, end to end"),
    )
    for label, value, note in rows:
        print(f"  {label:<32} {value!s:<16} {note}")
    print("references:")
    for line in REFERENCES:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
