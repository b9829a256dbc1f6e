"""Benchmark of the federation hub: many simulated edge agents against one ``naksha hub`` process.

One local control plane (the API emulator, its own process), one hub process (self-signed TLS),
and N simulated agents in this process (asyncio, one shared HTTPS connection pool), each with
its own Ed25519 key and bootstrap token. Prints:
  1. registrations/s (N agents registering, 64 at a time);
  2. heartbeats/s sustained with every agent heartbeating once a second, p50/p99 latency;
  3. API requests per node per minute during the steady heartbeat phase, counted by the
     emulator's own ``/metrics`` (writes of EdgeNode status, and everything the hub sent);
     target: at most one status write per node per offlineAfter/4 (2 m / 4 = 30 s by default);
  4. trigger round trip p50: a trigger request created on the API (what ``edge-exec`` does) →
     signed by the hub → long-polled and verified by an agent → its result recorded on the API;
and beside them the defaults of Open Cluster Management's cluster lease and KubeEdge's heartbeat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

import aiohttp  # noqa: E402
import yaml  # noqa: E402
from benchmarks.agent import snapshot  # noqa: E402
from benchmarks.control_plane import session_for as api_session  # noqa: E402

from naksha.domain.federation import allowlist, tokens, triggers  # noqa: E402
from naksha.domain.federation import requests as trigger_requests  # noqa: E402
from naksha.domain.federation.ledger import ReplayLedger  # noqa: E402

NAMESPACE = "bench"
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


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


class SimulatedAgent:
    def __init__(self, index: int, hub: str, session: aiohttp.ClientSession, bootstrap: str) -> None:
        self.node = f"edge-{index:04d}"
        self.hub = hub
        self.session = session
        self.bootstrap = bootstrap
        self.key = tokens.generate_key()
        self.identity: dict[str, Any] = {}
        self.latencies: list[float] = []
        self.failures = 0

    async def register(self) -> None:
        body = {
            "bootstrapToken": self.bootstrap,
            "node": self.node,
            "publicKey": tokens.public_pem(self.key.public_key()),
            "proof": tokens.mint_proof(self.key, node=self.node, use="register", now=time.time()),
            "capabilities": ["run-command"],
            "agentVersion": "bench",
        }
        async with self.session.post(f"{self.hub}/federation/register", json=body) as response:
            if response.status != 200:
                raise RuntimeError(
                    f"{self.node}: registration answered {response.status}: {await response.text()}"
                )
            self.identity = await response.json()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.identity['credential']}"}

    async def heartbeats(self, until: float) -> None:
        await asyncio.sleep(hash(self.node) % 1000 / 1000)  # spread over the second
        body = {"capabilities": ["run-command"], "agentVersion": "bench", "load": {"load1": 0.1}}
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                async with self.session.post(
                    f"{self.hub}/federation/heartbeat", json=body, headers=self.headers()
                ) as response:
                    await response.read()
                    if response.status != 200:
                        self.failures += 1
                    else:
                        self.latencies.append(time.monotonic() - started)
            except aiohttp.ClientError:
                self.failures += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    async def serve_triggers(self, stop: asyncio.Event) -> None:
        """Long-poll, verify each trigger as the real agent does, and answer at once."""
        hub_key = tokens.load_public_pem(self.identity["hubPublicKey"])
        ledger = ReplayLedger()
        config = allowlist.AgentConfig(capabilities=["collect-diagnostics"])
        while not stop.is_set():
            async with self.session.get(
                f"{self.hub}/federation/triggers?wait=5s", headers=self.headers()
            ) as response:
                if response.status != 200:
                    await asyncio.sleep(0.2)  # as the real agent: back off, never spin
                    continue
                delivered = (await response.json()).get("triggers") or []
            for token in delivered:
                accepted = triggers.accept(
                    token,
                    hub_key,
                    namespace=NAMESPACE,
                    node=self.node,
                    ledger=ledger,
                    config=config,
                    now=time.time(),
                )
                ledger.use(accepted.jti, accepted.expires, time.time())
                result = {"results": [{"jti": accepted.jti, "outcome": "Succeeded", "exitCode": 0}]}
                async with self.session.post(
                    f"{self.hub}/federation/results", json=result, headers=self.headers()
                ) as answer:
                    await answer.read()


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


async def run(args: argparse.Namespace, url: str, kubeconfig: Path, hub: str, ca: str) -> dict[str, Any]:
    os.environ["KUBECONFIG"] = str(kubeconfig)
    from naksha.kube import Kube
    from naksha.services.hub.store import HubStore

    key = HubStore(Kube(), NAMESPACE).signing_key(create=False)
    context = ssl.create_default_context(cafile=ca)
    connector = aiohttp.TCPConnector(limit=256, ssl=context)
    timeout = aiohttp.ClientTimeout(total=60)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        api_session(kubeconfig) as api,
    ):
        agents = [
            SimulatedAgent(
                i,
                hub,
                session,
                tokens.mint_bootstrap(
                    key, namespace=NAMESPACE, node=f"edge-{i:04d}", ttl=3600, now=time.time()
                ),
            )
            for i in range(args.nodes)
        ]
        gate = asyncio.Semaphore(64)

        async def register(agent: SimulatedAgent) -> None:
            async with gate:
                await agent.register()

        started = time.monotonic()
        await asyncio.gather(*(register(agent) for agent in agents))
        registrations = args.nodes / (time.monotonic() - started)

        # Heartbeats: a warm-up (the first status write of each node after registration), then the
        # steady window whose API requests are counted.
        end = time.monotonic() + args.warmup + args.seconds
        beating = [asyncio.create_task(agent.heartbeats(end)) for agent in agents]
        await asyncio.sleep(args.warmup)
        for agent in agents:
            agent.latencies.clear()
        before = await snapshot(api, url)
        window_started = time.monotonic()
        await asyncio.gather(*beating)
        window = time.monotonic() - window_started
        after = await snapshot(api, url)
        latencies = [value for agent in agents for value in agent.latencies]
        writes, requests = api_counts(after - before)

        stop = asyncio.Event()
        server = asyncio.create_task(agents[0].serve_triggers(stop))
        round_trips = []
        for _ in range(args.triggers):
            body = trigger_requests.build_request(
                namespace=NAMESPACE,
                node=agents[0].node,
                wpk="collect-diagnostics",
                params={},
                run={"namespace": NAMESPACE, "name": "bench", "action": uuid.uuid4().hex},
                idempotency_key=uuid.uuid4().hex,
            )
            name = body["metadata"]["name"]
            begun = time.monotonic()
            async with api.post(f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps", json=body) as response:
                assert response.status == 201, await response.text()
            while True:
                async with api.get(f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps/{name}") as response:
                    data = (await response.json()).get("data") or {}
                if data.get("result"):
                    break
                await asyncio.sleep(0.01)
            round_trips.append(time.monotonic() - begun)
        stop.set()
        server.cancel()
        return {
            "nodes": args.nodes,
            "registrationsPerSecond": round(registrations, 1),
            "heartbeatsPerSecond": round(len(latencies) / window, 1),
            "heartbeatFailures": sum(agent.failures for agent in agents),
            "heartbeatP50Ms": round(percentile(latencies, 0.5) * 1000, 1),
            "heartbeatP99Ms": round(percentile(latencies, 0.99) * 1000, 1),
            "statusWritesPerNodePerMinute": round(writes / args.nodes / (window / 60), 3),
            "apiRequestsPerNodePerMinute": round(requests / args.nodes / (window / 60), 3),
            "triggerRoundTripP50Ms": round(statistics.median(round_trips) * 1000, 1) if round_trips else None,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0, help="steady heartbeat window")
    parser.add_argument("--warmup", type=float, default=30.0, help="lets every first status write land first")
    parser.add_argument("--triggers", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="naksha-federation-bench-") as directory:
        workdir = Path(directory)
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
                figures = asyncio.run(run(args, url, kubeconfig, hub_url, ca))
            finally:
                hub.send_signal(signal.SIGTERM)
                hub.wait(timeout=30)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    f = figures
    print(f"federation hub, {f['nodes']} simulated agents (one asyncio process), one hub process")
    rows = (
        ("registrations/s", f["registrationsPerSecond"], ""),
        ("heartbeats/s (1 Hz per agent)", f["heartbeatsPerSecond"], f"failures {f['heartbeatFailures']}"),
        ("heartbeat p50 / p99 (ms)", f"{f['heartbeatP50Ms']} / {f['heartbeatP99Ms']}", "target p99 < 50 ms"),
        ("status writes /node/min", f["statusWritesPerNodePerMinute"], "target <= 2 (offlineAfter/4 = 30 s)"),
        ("hub API requests /node/min", f["apiRequestsPerNodePerMinute"], "watches excluded"),
        ("trigger round trip p50 (ms)", f["triggerRoundTripP50Ms"], "request on the API -> result recorded"),
    )
    for label, value, note in rows:
        print(f"  {label:<30} {value!s:<16} {note}")
    print("references:")
    for line in REFERENCES:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
