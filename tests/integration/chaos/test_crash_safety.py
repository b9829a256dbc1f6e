"""An operator SIGKILLed mid-fault restores it after a restart, exactly once, and the verdict comes.

The operator runs as ``naksha operator`` in its own process group and is killed with every
child once the fault is in place, then restarted after the fault's duration is over (nobody was
there to end it). Restore writes are counted from the Deployment's watch history.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kubernetes import client, watch
from tests.support import eventually, spec_changes
from tests.support.chaos import Chaos, available_probe, demo_deployment, experiment
from tests.support.operators import kill_group, start_operator

DURATION = 6.0


def test_an_operator_killed_between_injection_and_restore_restores_once_after_a_restart(
    control_plane, api_client, naksha_crds, chaos_namespace, tmp_path: Path
):
    chaos = Chaos(api_client, chaos_namespace)
    body = demo_deployment("victim", replicas=2)
    body["spec"]["template"]["spec"]["containers"] = [{"name": "c", "image": "app:1"}]
    chaos.deploy(body)
    chaos.ready_pods("victim", 2)
    before = client.AppsV1Api(api_client).read_namespaced_deployment("victim", chaos_namespace)
    log = tmp_path / "operator.log"
    first = start_operator(control_plane.kubeconfig_path, chaos_namespace, log)
    try:
        chaos.create(
            experiment(
                "crash",
                target={"kind": "Deployment", "selector": {"matchLabels": {"app": "victim"}}, "mode": "all"},
                fault={"type": "scale-to-zero"},
                duration=f"{DURATION:g}s",
                steadyState={"probes": [available_probe("victim")]},
                expectedRemediation={"mttrBudget": "90s"},
            )
        )
        run = chaos.stage("crash", "Injected", timeout=90)
    finally:
        kill_group(first)
    assert chaos.apps.read_namespaced_deployment("victim", chaos_namespace).spec.replicas == 0
    assert run["restore"][0]["value"] == 2  # the intent was recorded before the fault

    time.sleep(DURATION + 1)  # the fault outlives its duration while no operator runs
    assert chaos.apps.read_namespaced_deployment("victim", chaos_namespace).spec.replicas == 0
    second = start_operator(control_plane.kubeconfig_path, chaos_namespace, log)
    try:
        verdict = chaos.verdict("crash", timeout=120)
        eventually(
            lambda: chaos.apps.read_namespaced_deployment("victim", chaos_namespace).spec.replicas == 2
        )
    finally:
        kill_group(second)
    assert verdict["verdict"] == "Passed", (verdict, log.read_text()[-3000:])
    assert verdict["restoredAt"] > verdict["injectedAt"]
    assert spec_changes(api_client, before) == 2  # scaled to zero once, restored once
    restores = [e for e in chaos.status("crash")["journal"] if e["activity"] == "restore"]
    assert len(restores) == 1 and "replicas restored to 2" in restores[0]["message"]


@pytest.mark.parametrize(
    ("point", "stage_at_death", "replicas_at_death"),
    [("chaos.before-inject", "Injecting", 2), ("chaos.after-restore", "Injected", 2)],
)
def test_an_operator_that_dies_at_a_crash_point_restores_once_and_records_the_verdict(
    control_plane,
    api_client,
    naksha_crds,
    chaos_namespace,
    tmp_path: Path,
    point,
    stage_at_death,
    replicas_at_death,
):
    chaos = Chaos(api_client, chaos_namespace)
    body = demo_deployment("victim", replicas=2)
    body["spec"]["template"]["spec"]["containers"] = [{"name": "c", "image": "app:1"}]
    chaos.deploy(body)
    chaos.ready_pods("victim", 2)
    before = client.AppsV1Api(api_client).read_namespaced_deployment("victim", chaos_namespace)
    log = tmp_path / "operator.log"
    first = start_operator(control_plane.kubeconfig_path, chaos_namespace, log, NAKSHA_CRASH_POINT=point)
    try:
        chaos.create(
            experiment(
                "crash",
                target={"kind": "Deployment", "selector": {"matchLabels": {"app": "victim"}}, "mode": "all"},
                fault={"type": "scale-to-zero"},
                duration="2s",
                steadyState={"probes": [available_probe("victim")]},
                expectedRemediation={"mttrBudget": "90s"},
            )
        )
        first.wait(timeout=120)  # it kills itself at the point
    finally:
        kill_group(first)
    assert chaos.status("crash")["currentRun"]["stage"] == stage_at_death
    assert chaos.apps.read_namespaced_deployment("victim", chaos_namespace).spec.replicas == replicas_at_death

    second = start_operator(control_plane.kubeconfig_path, chaos_namespace, log, NAKSHA_CRASH_POINT=point)
    try:
        verdict = chaos.verdict("crash", timeout=120)
    finally:
        kill_group(second)
    assert verdict["verdict"] == "Passed", (verdict, log.read_text()[-3000:])
    assert chaos.apps.read_namespaced_deployment("victim", chaos_namespace).spec.replicas == 2
    assert spec_changes(api_client, before) == 2  # scaled to zero once, restored once


def pod_writes(api_client, namespace: str, before, name: str) -> list[tuple[str, str]]:
    """(event type, first container's image) of each change to pod ``name`` since ``before``'s listing."""
    seen: list[tuple[str, str]] = []
    previous = None
    for event in watch.Watch().stream(
        client.CoreV1Api(api_client).list_namespaced_pod,
        namespace,
        field_selector=f"metadata.name={name}",
        resource_version=before.metadata.resource_version,
        timeout_seconds=1,
    ):
        spec = event["raw_object"].get("spec") or {}
        image = (spec.get("containers") or [{}])[0].get("image", "")
        if event["type"] != "MODIFIED" or image != previous:
            seen.append((event["type"], image))
        previous = image
    return seen


@pytest.mark.parametrize("fault", ["pod-failure", "cpu-stress", "container-kill"])
def test_a_pod_fault_outliving_a_killed_operator_is_restored_once_after_a_restart(
    control_plane, api_client, naksha_crds, chaos_namespace, tmp_path: Path, fault
):
    chaos = Chaos(api_client, chaos_namespace)
    body = demo_deployment("victim", replicas=1)
    if fault != "container-kill":  # a killed container needs a process; the others need none
        body["spec"]["template"]["spec"]["containers"] = [{"name": "c", "image": "app:1"}]
    chaos.deploy(body)
    (target,) = chaos.ready_pods("victim", 1)
    pods_before = chaos.core.list_namespaced_pod(chaos_namespace)
    log = tmp_path / "operator.log"
    first = start_operator(control_plane.kubeconfig_path, chaos_namespace, log)
    try:
        chaos.create(
            experiment(
                "crash",
                target={"kind": "Pod", "selector": {"matchLabels": {"app": "victim"}}, "mode": "all"},
                fault={"type": fault},
                duration=f"{DURATION:g}s",
                steadyState={"probes": [available_probe("victim")]},
                expectedRemediation={"mttrBudget": "90s"},
            )
        )
        run = chaos.stage("crash", "Injected", timeout=90)
    finally:
        kill_group(first)
    (step,) = run["restore"]  # the intent was recorded before the fault
    time.sleep(DURATION + 1)  # the fault outlives its duration while no operator runs
    second = start_operator(control_plane.kubeconfig_path, chaos_namespace, log)
    try:
        verdict = chaos.verdict("crash", timeout=120)
    finally:
        kill_group(second)
    assert verdict["verdict"] == "Passed", (verdict, log.read_text()[-3000:])
    restores = [e for e in chaos.status("crash")["journal"] if e["activity"] == "restore"]
    assert len(restores) == 1, restores
    if fault == "pod-failure":
        assert step["value"] == {"c": "app:1"}
        images = [
            image
            for kind, image in pod_writes(api_client, chaos_namespace, pods_before, target.metadata.name)
        ]
        failing = step["injectedValue"]
        assert images.count(failing) == 1 and images[-1] == "app:1", images  # swapped once, back once
    else:
        helper = step["injectedValue"]
        writes = pod_writes(api_client, chaos_namespace, pods_before, helper)
        assert [kind for kind, _ in writes].count("ADDED") == 1, writes  # created once
        eventually(
            lambda: (
                helper not in {p.metadata.name for p in chaos.core.list_namespaced_pod(chaos_namespace).items}
            )
        )
        assert "deleted" in restores[0]["message"]
    if fault == "container-kill":  # the helper ran once: one kill, one restart
        pod = chaos.core.read_namespaced_pod(target.metadata.name, chaos_namespace)
        assert pod.status.container_statuses[0].restart_count == 1
