"""Benchmark of ChaosExperiment orchestration: overhead beyond the fault, operator CPU, 100 at once.

Prints, from one run on the local control plane (the API and the operator in their own processes;
no kubelet, so no pods: the orchestration alone is measured, and the faults' writes are real):
  1. for scale-to-zero runs of a fixed duration, what the orchestration adds after the fault's
     duration: (a) until the restore is written (restoredAt - injectedAt - duration) and (b) until
     the verdict (finishedAt - injectedAt - duration); and the operator's CPU time per run;
  2. 100 experiments injected at once: the same two figures under that load (median and worst),
     and the time until every verdict is in.
Target: both overheads under 1 s. Beside them, what Chaos Mesh and Litmus document (docs/chaos.md
cites the pages). Medians of several runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

from benchmarks.control_plane import free_port  # noqa: E402

GROUP, VERSION, PLURAL = "naksha.io", "v1alpha1", "chaosexperiments"
DURATION = 3.0
REFERENCES = (
    "Chaos Mesh: Schedule concurrencyPolicy Forbid and startingDeadlineSeconds 0 by default; faults end"
    " after spec.duration, restored by the controller through chaos-daemon",
    "Litmus: probes in SOT/EOT/Edge/Continuous/OnChaos modes; the documented example polls every"
    " 2 s (probePollingInterval 2, interval 2, probeTimeout 5, retry 1)",
)


@contextlib.contextmanager
def control_plane(workdir: Path) -> Iterator[Path]:
    """The local control plane without a kubelet, in its own process; yields its kubeconfig."""
    kubeconfig = workdir / "kubeconfig"
    command = ["local", "up", "--no-kubelet", "--port", str(free_port()), "--kubeconfig", str(kubeconfig)]
    process = subprocess.Popen(
        [sys.executable, "-m", "naksha", *command, "--state-dir", str(workdir / "state")],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "control-plane.log").open("w"),
    )
    try:
        deadline = time.monotonic() + 120
        kubectl = ["kubectl", "--kubeconfig", str(kubeconfig), "get", "namespaces"]
        while not kubeconfig.exists() or subprocess.run(kubectl, capture_output=True).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local control plane did not start; see {workdir}/control-plane.log")
            time.sleep(0.5)
        yield kubeconfig
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_operator(kubeconfig: Path, workdir: Path) -> subprocess.Popen[bytes]:
    """``naksha operator`` in its own process, after the CRDs are served."""
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": str(ROOT / "operator"),
        "NAKSHA_METRICS_PORT": str(free_port()),
        "NAKSHA_HEALTH_PORT": str(free_port()),
        "NAKSHA_API_PORT": str(free_port()),
        "NAKSHA_LOG_LEVEL": "WARNING",
    }
    for command in (
        ["apply", "-f", str(ROOT / "crds")],
        ["wait", "--for=condition=Established", "crd", "-l", "app.kubernetes.io/part-of=naksha"],
    ):
        subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), *command], check=True, capture_output=True
        )
    log = (workdir / "operator.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "naksha", "operator"], env=env, stdout=log, stderr=log)


class Cluster:
    def __init__(self, kubeconfig: Path) -> None:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(kubeconfig))
        self.core, self.apps, self.custom = (
            client.CoreV1Api(api),
            client.AppsV1Api(api),
            client.CustomObjectsApi(api),
        )
        self.client = client

    def namespace(self) -> str:
        name = f"bench-chaos-{uuid.uuid4().hex[:6]}"
        meta = self.client.V1ObjectMeta(name=name, labels={"naksha.io/chaos": "enabled"})
        self.core.create_namespace(self.client.V1Namespace(metadata=meta))
        return name

    def deployment(self, namespace: str, name: str) -> None:
        labels = {"app": name}
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "app:1"}]},
                },
            },
        }
        self.apps.create_namespaced_deployment(namespace, body)

    def experiment(self, namespace: str, name: str, target: str) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ChaosExperiment",
            "metadata": {"name": name},
            "spec": {
                "target": {"kind": "Deployment", "selector": {"matchLabels": {"app": target}}, "mode": "all"},
                "fault": {"type": "scale-to-zero"},
                "duration": f"{DURATION:g}s",
                "expectedRemediation": {"mttrBudget": "120s"},
            },
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    def finished(self, namespace: str) -> list[dict[str, Any]]:
        items = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        return [run for item in items for run in (item.get("status") or {}).get("history") or []]


def overheads(run: dict[str, Any]) -> tuple[float, float]:
    from naksha.domain.chaos.run import from_iso

    injected = from_iso(run["injectedAt"])
    return from_iso(run["restoredAt"]) - injected - DURATION, from_iso(
        run["finishedAt"]
    ) - injected - DURATION


def serial_runs(cluster: Cluster, operator_pid: int, rounds: int) -> tuple[list[tuple[float, float]], float]:
    namespace = cluster.namespace()
    cluster.deployment(namespace, "web")
    samples: list[tuple[float, float]] = []
    cpu = 0.0
    for index in range(rounds):
        before = cpu_seconds(operator_pid)
        cluster.experiment(namespace, f"serial-{index}", "web")
        deadline = time.monotonic() + 120
        while len(cluster.finished(namespace)) <= index:
            if time.monotonic() > deadline:
                raise RuntimeError("a serial run did not finish")
            time.sleep(0.2)
        cpu += cpu_seconds(operator_pid) - before
        run = next(r for r in cluster.finished(namespace) if r["id"] == "run-1" and len(samples) == index)
        samples.append(overheads(run))
    return samples, cpu / rounds


def parallel_runs(cluster: Cluster, count: int) -> tuple[list[tuple[float, float]], float]:
    namespace = cluster.namespace()
    for index in range(count):
        cluster.deployment(namespace, f"app-{index}")
    started = time.monotonic()
    for index in range(count):
        cluster.experiment(namespace, f"many-{index}", f"app-{index}")
    deadline = time.monotonic() + 600
    while len(runs := cluster.finished(namespace)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(runs)} of {count} runs finished")
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    injected = [run for run in runs if run.get("injectedAt")]
    return [overheads(run) for run in injected], elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="3 rounds and 20 experiments, for a smoke run")
    args = parser.parse_args()
    rounds, parallel = (3, 20) if args.quick else (args.rounds, args.parallel)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with control_plane(workdir) as kubeconfig:
            operator = run_operator(kubeconfig, workdir)
            try:
                cluster = Cluster(kubeconfig)
                serial, cpu_per_run = serial_runs(cluster, operator.pid, rounds)
                many, elapsed = parallel_runs(cluster, parallel)
            finally:
                operator.send_signal(signal.SIGINT)
                operator.wait(timeout=60)
    restore = statistics.median(s[0] for s in serial)
    verdict = statistics.median(s[1] for s in serial)
    print(
        f"ChaosExperiment scale-to-zero, duration {DURATION:g}s, local control plane (API only), tick 0.5 s"
    )
    print(f"  one at a time ({rounds} runs, medians): restore written {restore:.2f}s after the duration,")
    print(f"    verdict {verdict:.2f}s after it; operator CPU {cpu_per_run * 1000:.0f} ms per run")
    many_restore = sorted(s[0] for s in many)
    many_verdict = sorted(s[1] for s in many)
    print(
        f"  {parallel} at once ({len(many)} injected): restore median {statistics.median(many_restore):.2f}s,"
    )
    print(f"    worst {many_restore[-1]:.2f}s; verdict median {statistics.median(many_verdict):.2f}s,")
    print(f"    worst {many_verdict[-1]:.2f}s; all verdicts in {elapsed:.1f}s from the first create")
    print("  target: restore and verdict < 1 s beyond the duration")
    print("References (docs/chaos.md):")
    for line in REFERENCES:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
