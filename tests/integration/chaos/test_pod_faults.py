"""pod-failure, container-kill and cpu-stress on the local control plane, with real processes.

The target pods run ``naksha demo-app`` as processes; the helper pods the operator creates run
``naksha chaos-helper`` as processes beside them. Each test watches the process itself: the one
a failing image stopped, the one a helper killed and the kubelet restarted, the burner's CPU time.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.support import eventually
from tests.support.chaos import Chaos, available_probe, demo_deployment, experiment
from tests.support.pods import needs_namespaces, pid_of

pytestmark = needs_namespaces
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12)) / CLOCK_TICKS


def tree_cpu_seconds(root: int) -> float:
    """CPU time of a process and its live descendants (the burner's workers)."""
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        try:
            total += cpu_seconds(pid)
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        pending.extend(int(child) for child in children)
    return total


def container(pod, name: str = "app"):
    return next(s for s in pod.status.container_statuses or [] if s.name == name)


def one_pod_experiment(name: str, fault: dict, duration: str) -> dict:
    return experiment(
        name,
        target={"kind": "Pod", "selector": {"matchLabels": {"app": "web"}}, "mode": "one"},
        fault=fault,
        duration=duration,
        steadyState={"probes": [available_probe("web")]},
        expectedRemediation={"mttrBudget": "90s"},
    )


def test_pod_failure_stops_the_containers_for_the_duration_and_the_restore_starts_them_again(
    naksha_operator, api_client, chaos_namespace
):
    chaos = Chaos(api_client, chaos_namespace)
    chaos.deploy(demo_deployment("web", replicas=2))
    before = {p.metadata.name: pid_of(p) for p in chaos.ready_pods("web", 2)}
    chaos.create(one_pod_experiment("fail-one", {"type": "pod-failure"}, "5s"))

    run = chaos.stage("fail-one", "Injected", timeout=90)
    (target,) = run["targets"]

    def failing():
        pod = chaos.core.read_namespaced_pod(target, chaos_namespace)
        waiting = container(pod).state.waiting
        return pod if waiting is not None and waiting.reason in ("ErrImagePull", "ImagePullBackOff") else None

    pod = eventually(failing, timeout=30)
    assert container(pod).image == "naksha-chaos.invalid/pod-failure:unpullable"
    assert not container(pod).ready
    eventually(lambda: not alive(before[target]), timeout=15)  # the process itself was stopped

    run = chaos.verdict("fail-one", timeout=120)
    assert run["verdict"] == "Passed", run
    pod = chaos.core.read_namespaced_pod(target, chaos_namespace)
    assert pod.metadata.uid and container(pod).image == "naksha"  # the same pod, its image back
    restarted = eventually(lambda: container(chaos.core.read_namespaced_pod(target, chaos_namespace)).ready)
    assert restarted
    pod = chaos.core.read_namespaced_pod(target, chaos_namespace)
    assert pid_of(pod) != before[target] and alive(pid_of(pod))  # a new process from the restored image
    assert container(pod).restart_count >= 1
    restores = [e for e in chaos.status("fail-one")["journal"] if e["activity"] == "restore"]
    assert "images restored (naksha)" in restores[0]["message"]


def test_container_kill_ends_the_containers_process_and_the_kubelet_restarts_it_in_the_same_pod(
    naksha_operator, api_client, chaos_namespace
):
    chaos = Chaos(api_client, chaos_namespace)
    chaos.deploy(demo_deployment("web", replicas=2))
    before = {p.metadata.name: pid_of(p) for p in chaos.ready_pods("web", 2)}
    chaos.create(
        one_pod_experiment("kill-container", {"type": "container-kill", "params": {"container": "app"}}, "3s")
    )

    run = chaos.verdict("kill-container", timeout=120)
    assert run["verdict"] == "Passed", run
    (target,) = run["targets"]
    assert not alive(before[target])  # killed...
    pod = chaos.core.read_namespaced_pod(target, chaos_namespace)
    assert container(pod).restart_count >= 1  # ...and restarted in the same pod
    assert container(pod).last_state.terminated is not None
    eventually(lambda: container(chaos.core.read_namespaced_pod(target, chaos_namespace)).ready, timeout=30)
    assert alive(pid_of(chaos.core.read_namespaced_pod(target, chaos_namespace)))
    (helper,) = [step["injectedValue"] for step in run["restore"]]
    eventually(
        lambda: helper not in {p.metadata.name for p in chaos.core.list_namespaced_pod(chaos_namespace).items}
    )
    assert 0.2 < run["timeToRecoverSeconds"] < 90  # from the kill: the restart is not instant


def test_cpu_stress_runs_a_burner_beside_the_target_for_the_duration_and_deletes_it(
    naksha_operator, api_client, chaos_namespace
):
    chaos = Chaos(api_client, chaos_namespace)
    chaos.deploy(demo_deployment("web", replicas=1))
    chaos.ready_pods("web", 1)
    chaos.create(
        one_pod_experiment("stress", {"type": "cpu-stress", "params": {"workers": 1, "load": 80}}, "8s")
    )

    run = chaos.stage("stress", "Injected", timeout=90)
    (target,) = run["targets"]
    helper = run["restore"][0]["injectedValue"]

    def burning():
        pod = chaos.core.read_namespaced_pod(helper, chaos_namespace)
        statuses = pod.status.container_statuses or []
        return pod if statuses and statuses[0].state.running and statuses[0].container_id else None

    stress = eventually(burning, timeout=30)
    target_pod = chaos.core.read_namespaced_pod(target, chaos_namespace)
    assert stress.spec.node_name == target_pod.spec.node_name  # beside the target
    pid = pid_of(stress)
    start, used = time.monotonic(), tree_cpu_seconds(pid)
    time.sleep(2.0)
    burned = tree_cpu_seconds(pid) - used
    # The burner really burns: an idle process uses next to nothing; the bound is far below the
    # 80 % asked for, since the machine's two cores are shared with everything else running.
    assert burned > 0.1 * (time.monotonic() - start), burned

    run = chaos.verdict("stress", timeout=120)
    assert run["verdict"] == "Passed", run
    eventually(lambda: not alive(pid), timeout=30)
    # Deleted gracefully: the node stops it, then the pod object goes.
    eventually(
        lambda: (
            helper not in {p.metadata.name for p in chaos.core.list_namespaced_pod(chaos_namespace).items}
        ),
        timeout=30,
    )
    restores = [e for e in chaos.status("stress")["journal"] if e["activity"] == "restore"]
    assert f"helper pod {helper} deleted" in restores[0]["message"]
