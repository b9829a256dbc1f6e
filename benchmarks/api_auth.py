"""Benchmark of the AgentRun API's access control: what TokenReview and SubjectAccessReview cost a request.

Prints, side by side, requests/s and p50/p99 latency of ``POST /agent/run`` (the real API on
loopback, the real ``kubernetes`` client, the local control plane creating each AgentRun):
  1. without authentication (every caller admitted) — the reference: the API's own cost;
  2. a ServiceAccount token, review cache warm (one TokenReview and the SubjectAccessReviews
     once per cache lifetime);
  3. the same, cache cold (TTL 0: one TokenReview and one SubjectAccessReview per permission on
     every request — 3 for the playbook used here: create agentruns, get and patch deployments).
The caller's token comes from the control plane's TokenRequest (``kubectl create token``) and
its RBAC is a Role and RoleBinding applied with kubectl, so every review is answered by the
control plane's own authenticator and RBAC evaluation. Figures are medians of several rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

import aiohttp  # noqa: E402
from benchmarks.control_plane import local_control_plane  # noqa: E402
from benchmarks.results import record  # noqa: E402
from kubernetes import config  # noqa: E402
from tests.support.agent_api import ServedApi  # noqa: E402

from naksha.access.identity import Identity  # noqa: E402
from naksha.access.reviews import Authenticator, Authorizer  # noqa: E402
from naksha.controllers.agentrun import api  # noqa: E402
from naksha.controllers.agentrun.api_auth import Caller, KubernetesGate  # noqa: E402
from naksha.controllers.agentrun.fence import Reach  # noqa: E402
from naksha.kube import Kube  # noqa: E402

NAMESPACE = "bench-api"
CONCURRENCY = 8
REFERENCE = "no authentication (reference)"
WARM = "TokenReview + SAR, cache warm"
COLD = "TokenReview + SAR, cache cold (TTL 0)"
BODY = {
    "namespace": NAMESPACE,
    "playbook": "restart-on-crash-loop",
    "target": {"kind": "Deployment", "name": "web"},
}
RBAC = f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: caller, namespace: {NAMESPACE}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: remediator, namespace: {NAMESPACE}}}
rules:
  - {{apiGroups: [naksha.io], resources: [agentruns], verbs: [create, get]}}
  - {{apiGroups: [apps], resources: [deployments], verbs: [get, patch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: caller-remediates, namespace: {NAMESPACE}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: remediator}}
subjects: [{{kind: ServiceAccount, name: caller, namespace: {NAMESPACE}}}]
"""


class AdmitEveryone:
    """The reference gate: no authentication, no authorisation — what the API costs without them."""

    def caller(self, authorization: str | None) -> Caller:
        return Caller(subject="anyone", identity=Identity(user="anyone"))

    def may_start(self, caller: Caller, namespace: str, reached: Mapping[str, Reach]) -> None:
        return None

    def may_read(self, caller: Caller, namespace: str) -> None:
        return None


async def load(url: str, token: str, requests: int) -> tuple[float, list[float]]:
    """requests/s and the latency of each request, CONCURRENCY at a time."""
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    queue = iter(range(requests))

    async with aiohttp.ClientSession() as session:

        async def client() -> None:
            for _ in queue:
                started = time.perf_counter()
                async with session.post(url, json=BODY, headers=headers) as response:
                    text = await response.text()
                    if response.status != 201:
                        raise RuntimeError(f"POST /agent/run answered {response.status}: {text}")
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - began
    return requests / elapsed, latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def prepare(kubeconfig: Path) -> str:
    """CRDs, namespace, target and the caller's RBAC; returns the caller's token (audience naksha)."""
    kubectl(kubeconfig, "apply", "-f", str(ROOT / "crds"))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=30s", "crd", "--all")
    # kubectl apply (JSON) rather than imperative create (protobuf, which the emulator refuses).
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(namespace))
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(deployment))
    kubectl(kubeconfig, "apply", "-f", "-", stdin=RBAC)
    return kubectl(kubeconfig, "create", "token", "caller", "-n", NAMESPACE, "--audience", "naksha").strip()


def measure(
    configurations: dict[str, api.AgentApi], token: str, requests: int, rounds: int
) -> dict[str, Any]:
    """Round-robin over the configurations, so each sees the control plane in the same state."""
    servers = {label: ServedApi(agent_api) for label, agent_api in configurations.items()}
    results: dict[str, list[tuple[float, list[float]]]] = {label: [] for label in servers}
    try:
        for server in servers.values():
            # warm connections (and the caches kept)
            asyncio.run(load(f"{server.base}/agent/run", token, CONCURRENCY))
        for _ in range(rounds):
            for label, server in servers.items():
                results[label].append(asyncio.run(load(f"{server.base}/agent/run", token, requests)))
    finally:
        for server in servers.values():
            server.close()
    figures = {}
    for label, measured in results.items():
        latencies = [value for _, values in measured for value in values]
        figures[label] = {
            "rate": statistics.median(rate for rate, _ in measured),
            "p50": percentile(latencies, 0.50) * 1000,
            "p99": percentile(latencies, 0.99) * 1000,
        }
        print(
            f"  {label:<40} {figures[label]['rate']:>7.0f} req/s"
            f"   p50 {figures[label]['p50']:>6.1f} ms   p99 {figures[label]['p99']:>6.1f} ms",
            flush=True,
        )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="naksha-bench-auth-") as work,
        local_control_plane(Path(work)) as (
            _,
            kubeconfig,
        ),
    ):
        kube = Kube(config.new_client_from_config(config_file=str(kubeconfig)))
        token = prepare(kubeconfig)
        print(f"POST /agent/run, {CONCURRENCY} concurrent clients, median of {args.rounds} rounds:")
        warm_gate = KubernetesGate(
            Authenticator(kube, audiences=["naksha"], ttl=60), Authorizer(kube, ttl=60)
        )
        cold_gate = KubernetesGate(Authenticator(kube, audiences=["naksha"], ttl=0), Authorizer(kube, ttl=0))
        figures = measure(
            {
                REFERENCE: api.AgentApi(kube, AdmitEveryone()),
                WARM: api.AgentApi(kube, warm_gate),
                COLD: api.AgentApi(kube, cold_gate),
            },
            token,
            args.requests,
            args.rounds,
        )
        reviews = cold_gate.authenticator.reviews + cold_gate.authorizer.reviews
        per_request = reviews / (args.rounds * args.requests + CONCURRENCY)
        reference = figures[REFERENCE]["rate"]
        print(
            f"  warm/reference {figures[WARM]['rate'] / reference:.2f}x, cold/reference "
            f"{figures[COLD]['rate'] / reference:.2f}x; cold: {per_request:.1f} reviews per request"
        )
        record(
            "api_auth",
            {
                "warm_to_reference": figures[WARM]["rate"] / reference,
                "cold_to_reference": figures[COLD]["rate"] / reference,
                "cold_reviews_per_request": per_request,
            },
            reference="POST /agent/run without authentication",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
