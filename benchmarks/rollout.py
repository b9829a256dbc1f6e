"""Benchmark of Rollout rollbacks and of many Rollouts progressing at once.

Prints, from one run on the local control plane (API, kubelet and operator in their own processes):
  1. from the moment a canary's analysis turns bad (an InsightStream detector fires) to
     (a) the stable revision serving all replicas again and (b) the revert commit existing in a
     GitOps repository — in seconds and in analysis intervals, with the operator's CPU time spent;
  2. 100 Rollouts taken from one revision to the next at once (setWeight 50 → pause 1s): time
     until all are stable.
References printed beside them: Flagger's worst case before rolling back is interval x threshold
(1 min x 5 = 5 min by default); Argo Rollouts waits abortScaleDownDelaySeconds (30 s by default)
before scaling the canary down. Target: rollback in under 2 analysis intervals and under 2 s of
operator work. Medians of several rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

from benchmarks.agent import cpu_seconds, run_operator  # noqa: E402
from benchmarks.control_plane import local_control_plane  # noqa: E402
from benchmarks.results import record  # noqa: E402

GROUP, VERSION = "naksha.io", "v1alpha1"
INTERVAL_SECONDS = 1.0


class Kubectl:
    """kubectl for writes; the Python client for the reads polled in tight loops (no process per read)."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        from kubernetes import client, config

        self.base = ["kubectl", "--kubeconfig", str(kubeconfig), "-n", namespace]
        api = config.new_client_from_config(config_file=str(kubeconfig))
        self.custom, self.apps, self.namespace = (
            client.CustomObjectsApi(api),
            client.AppsV1Api(api),
            namespace,
        )

    def rollout(self, name: str) -> dict[str, Any]:
        return dict(
            self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, "rollouts", name)
        )

    def rollouts(self) -> list[dict[str, Any]]:
        return list(
            self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, "rollouts")["items"]
        )

    def deployment(self, name: str) -> Any:
        return self.apps.read_namespaced_deployment(name, self.namespace)

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run([*self.base, *args], input=stdin, capture_output=True, text=True, check=True)
        return result.stdout

    def apply(self, body: dict[str, Any]) -> None:
        self("apply", "-f", "-", stdin=json.dumps(body))


def template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "shop"}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def rollout(name: str, image: str, steps: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "shop"}},
            "template": template(image),
            "strategy": {"canary": {"steps": steps}},
            **spec,
        },
    }


def wait(check: Any, timeout: float = 120.0, interval: float = 0.02) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(interval)
    raise RuntimeError("timed out")


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def gitops_repo(workdir: Path, name: str) -> Path:
    bare = workdir / f"{name}.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=workdir)
    seed = workdir / f"{name}-seed"
    git("clone", "--quiet", str(bare), str(seed), cwd=workdir)
    (seed / "rollout.yaml").write_text(
        json.dumps({**rollout(name, "shop:2", []), "metadata": {"name": name, "namespace": "bench"}})
    )
    git("add", ".", cwd=seed)
    git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "--quiet", "-m", "v2", cwd=seed)
    git("push", "--quiet", "origin", "HEAD:main", cwd=seed)
    return bare


def detector(kubectl: Kubectl, active: int) -> None:
    kubectl(
        "patch",
        "insightstream",
        "shop",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"detectors": {"errors": {"active": active}}}}),
    )


def rollback_round(
    kubectl: Kubectl, workdir: Path, operator_pid: int, index: int
) -> tuple[float, float, float, float]:
    name = f"shop-{index}"
    repo = gitops_repo(workdir, name)
    analysis = {
        "metrics": [
            {
                "name": "errors",
                "provider": {"insight": {"stream": "shop", "detector": "errors"}},
                "interval": f"{INTERVAL_SECONDS:g}s",
                "count": 1000,
            }
        ]
    }
    detector(kubectl, 0)
    kubectl.apply(
        rollout(
            name,
            "shop:1",
            [{"setWeight": 25}, {"analysis": analysis}],
            gitops={"repo": str(repo), "path": "rollout.yaml"},
        )
    )
    wait(lambda: kubectl.rollout(name).get("status", {}).get("phase") == "Healthy")
    kubectl(
        "patch", "rollout", name, "--type=merge", "-p", json.dumps({"spec": {"template": template("shop:2")}})
    )

    def analysing() -> bool:
        measured = kubectl.rollout(name).get("status", {}).get("analysis") or {}
        return any((m or {}).get("successful", 0) >= 1 for m in measured.values())

    wait(analysing)
    cpu_before = cpu_seconds(operator_pid)
    turned = time.monotonic()
    detector(kubectl, 1)

    def stable_serving() -> bool:
        canary, stable = kubectl.deployment(f"{name}-canary"), kubectl.deployment(f"{name}-stable")
        return bool(
            canary.spec.replicas == 0
            and stable.spec.replicas == 4
            and stable.spec.template.spec.containers[0].image == "shop:1"
        )

    served = wait(stable_serving)
    try:
        committed = wait(lambda: git("rev-list", "--count", "main", cwd=repo) == "2", interval=0.05)
    except RuntimeError:
        status = kubectl.rollout(name).get("status")
        raise RuntimeError(f"no revert commit; the Rollout says {status}") from None
    cpu = cpu_seconds(operator_pid) - cpu_before

    def gitops() -> dict[str, Any]:
        return dict(((kubectl.rollout(name).get("status") or {}).get("rollback") or {}).get("gitops") or {})

    wait(lambda: "seconds" in gitops())  # the git work as the operator timed it
    return served - turned, committed - turned, cpu, float(gitops()["seconds"])


def many_round(kubectl: Kubectl, count: int, label: str) -> float:
    names = [f"fleet-{label}-{i}" for i in range(count)]
    for name in names:
        kubectl.apply(rollout(name, "shop:1", [{"setWeight": 50}, {"pause": {"duration": "1s"}}]))

    def phases() -> list[str]:
        wanted = set(names)
        return [
            (i.get("status") or {}).get("phase", "")
            for i in kubectl.rollouts()
            if i["metadata"]["name"] in wanted
        ]

    wait(lambda: phases().count("Healthy") == count, timeout=300, interval=0.5)
    started = time.monotonic()
    patch = json.dumps({"spec": {"template": template("shop:2")}})
    for name in names:
        kubectl("patch", "rollout", name, "--type=merge", "-p", patch)
    patched = time.monotonic() - started

    def promoted() -> bool:
        items = kubectl.rollouts()
        done = [
            i
            for i in items
            if i["metadata"]["name"] in set(names)
            and (i.get("status") or {}).get("phase") == "Healthy"
            and i["status"].get("stableRevision") != i["status"].get("revisions", [{}])[0].get("revision")
        ]
        return len(done) == count

    finished = wait(promoted, timeout=600, interval=0.5)
    return finished - started - patched / 2  # patches went out over `patched` seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fleet", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with local_control_plane(workdir, kubelet=True) as (_, kubeconfig):
            operator = run_operator(kubeconfig, workdir)
            try:
                namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}
                subprocess.run(
                    ["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-f", "-"],
                    input=json.dumps(namespace),
                    text=True,
                    check=True,
                    capture_output=True,
                )
                kubectl = Kubectl(kubeconfig, "bench")
                kubectl.apply(
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "InsightStream",
                        "metadata": {"name": "shop"},
                        "spec": {
                            "source": {"type": "http", "http": {"port": 18999}},
                            "replicas": 0,
                            "detectors": [
                                {
                                    "name": "errors",
                                    "metric": "errors",
                                    "method": "threshold",
                                    "params": {"threshold": {"above": 1}},
                                }
                            ],
                        },
                    }
                )
                rounds = [rollback_round(kubectl, workdir, operator.pid, i) for i in range(args.rounds)]
                fleet = many_round(kubectl, args.fleet, "a")
            finally:
                operator.send_signal(signal.SIGINT)
                operator.wait(timeout=60)
    served, committed, cpu, git_work = (statistics.median(r[i] for r in rounds) for i in range(4))
    every = INTERVAL_SECONDS
    print(f"Rollback after the analysis turns bad (analysis interval {every:g}s, median of {args.rounds})")
    print(f"  stable serving all replicas again: {served:6.2f} s  = {served / every:.1f} intervals")
    print(f"  revert commit in the GitOps repo:  {committed:6.2f} s  = {committed / every:.1f} intervals")
    print(f"  operator CPU spent meanwhile:      {cpu:6.2f} s")
    print(f"  of which the git work (clone/fetch, commit, push): {git_work:.3f} s wall")
    print(
        "  reference: Flagger worst case 300 s (1 min x 5); Argo Rollouts scales the canary down after 30 s"
    )
    print("  target: < 2 analysis intervals and < 2 s of operator work")
    print()
    fleet_steps = "setWeight 50, pause 1s"
    print(f"{args.fleet} Rollouts from one revision to the next at once ({fleet_steps}): {fleet:.1f} s")
    figures = {"rollback_served_seconds": served, "revert_commit_seconds": committed}
    figures |= {"operator_cpu_seconds": cpu, f"fleet_{args.fleet}_seconds": fleet}
    record("rollout", figures, reference="Flagger worst case 300 s; target < 2 analysis intervals")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NAKSHA_LOG_LEVEL", "WARNING")
    raise SystemExit(main())
