"""The local kubelet runs Deployments, Jobs and pods of the local control plane.

Containers that run a ``naksha`` command become real local processes; other images are
simulated as running. Assertions go through the API, as a user of a cluster would see it.
On the real backend the same tests drive the real Deployment/ReplicaSet/Job controllers and
scheduler, with the node agent running the pods.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from tests.support import Kubectl, eventually


@pytest.fixture(scope="module")
def api(control_plane: Any) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(control_plane.kubeconfig_path))


@pytest.fixture
def namespace(fresh_namespace: str) -> str:
    return fresh_namespace


def deployment(name: str, image: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


def job(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "naksha:test", "command": command}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}, **spec},
    }


def conditions(obj: Any) -> dict[str, str]:
    return {c.type: c.status for c in (obj.status.conditions or [])}


def test_a_deployment_becomes_available_with_its_replicas(api, namespace, backend):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("web", "nginx:1", replicas=3))

    ready = eventually(
        lambda: (d := apps.read_namespaced_deployment("web", namespace)).status.available_replicas == 3 and d
    )
    assert conditions(ready)["Available"] == "True"
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 3
    assert all(p.status.phase == "Running" and p.spec.node_name == "local-node" for p in pods)
    # The emulator's kubelet owns pods by their Deployment directly; Kubernetes through a ReplicaSet.
    owner = "ReplicaSet" if backend == "real" else "Deployment"
    assert all(p.metadata.owner_references[0].kind == owner for p in pods)


def test_a_template_change_replaces_every_pod(api, namespace):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("roll", "app:1", replicas=3))
    eventually(lambda: apps.read_namespaced_deployment("roll", namespace).status.available_replicas == 3)
    before = {p.metadata.name for p in core.list_namespaced_pod(namespace).items}

    apps.patch_namespaced_deployment(
        "roll",
        namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "app:2"}]}}}},
    )

    def rolled() -> bool:
        d = apps.read_namespaced_deployment("roll", namespace)
        pods = core.list_namespaced_pod(namespace).items
        images = {p.spec.containers[0].image for p in pods}
        return d.status.updated_replicas == 3 and d.status.available_replicas == 3 and images == {"app:2"}

    eventually(rolled)
    after = {p.metadata.name for p in core.list_namespaced_pod(namespace).items}
    assert len(after) == 3 and not before & after


def test_scaling_a_deployment_through_kubectl_changes_its_pods(api, namespace, control_plane):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("scaled", "app:1", replicas=1))
    Kubectl(control_plane.kubeconfig_path)("scale", "deployment/scaled", "--replicas=4", "-n", namespace)
    eventually(lambda: len(core.list_namespaced_pod(namespace).items) == 4)
    eventually(lambda: apps.read_namespaced_deployment("scaled", namespace).status.ready_replicas == 4)


def test_a_deleted_pod_is_replaced(api, namespace):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("heal", "app:1", replicas=1))
    first = eventually(lambda: core.list_namespaced_pod(namespace).items)[0].metadata.name
    core.delete_namespaced_pod(first, namespace)
    replacement = eventually(
        lambda: [p for p in core.list_namespaced_pod(namespace).items if p.metadata.name != first]
    )
    assert replacement[0].metadata.name.startswith("heal-")


def test_a_naksha_job_runs_as_a_process_and_completes_with_its_logs(api, namespace, control_plane):
    batch = client.BatchV1Api(api)
    batch.create_namespaced_job(namespace, job("version", ["naksha", "--version"]))
    done = eventually(
        lambda: (j := batch.read_namespaced_job("version", namespace)).status.succeeded and j, timeout=30
    )
    assert conditions(done)["Complete"] == "True"
    logs = Kubectl(control_plane.kubeconfig_path)("logs", "job/version", "-n", namespace).stdout
    assert logs.startswith("naksha ")


def test_environment_from_secrets_reaches_the_process_and_its_arguments(api, namespace, tmp_path: Path):
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    out = tmp_path / "generated"
    core.create_namespaced_secret(
        namespace,
        {"metadata": {"name": "where"}, "data": {"dir": base64.b64encode(str(out).encode()).decode()}},
    )
    env = [{"name": "OUT_DIR", "valueFrom": {"secretKeyRef": {"name": "where", "key": "dir"}}}]
    batch.create_namespaced_job(
        namespace, job("gen", ["naksha", "crds", "--out", "$(OUT_DIR)"], container={"env": env})
    )
    eventually(lambda: batch.read_namespaced_job("gen", namespace).status.succeeded, timeout=30)
    assert sorted(os.listdir(out))[0] == "naksha.io_agentruns.yaml"


def test_a_missing_secret_holds_the_pod_with_a_config_error(api, namespace):
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]
    batch.create_namespaced_job(namespace, job("held", ["naksha", "--version"], container={"env": env}))

    def waiting_reason() -> str:
        pod = core.list_namespaced_pod(namespace, label_selector="job-name=held").items[0]
        return str(pod.status.container_statuses[0].state.waiting.reason)

    assert eventually(waiting_reason) == "CreateContainerConfigError"


def test_a_failing_job_retries_then_fails_at_its_backoff_limit(api, namespace):
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(namespace, job("broken", ["naksha", "no-such-command"], backoffLimit=1))
    failed = eventually(
        lambda: (j := batch.read_namespaced_job("broken", namespace)).status.failed == 2 and j, timeout=30
    )
    reasons = {c.type: c.reason for c in failed.status.conditions}
    assert reasons["Failed"] == "BackoffLimitExceeded"
    pods = core.list_namespaced_pod(namespace, label_selector="job-name=broken").items
    assert len(pods) == 2 and all(p.status.phase == "Failed" for p in pods)
    assert all(p.status.container_statuses[0].state.terminated.exit_code == 2 for p in pods)


def test_deleting_a_job_stops_and_collects_its_pods(api, namespace, control_plane):
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    # `naksha local up` blocks until signalled: a long-running naksha process to stop.
    args = [
        "naksha",
        "local",
        "up",
        "--no-kubelet",
        "--kubeconfig",
        "$(POD)/kubeconfig",
        "--state-dir",
        "$(POD)",
    ]
    env = [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    batch.create_namespaced_job(namespace, job("long", args, container={"env": env}))
    pod = eventually(
        lambda: [p for p in core.list_namespaced_pod(namespace).items if p.status.phase == "Running"]
    )[0]
    runner = control_plane.kubelet.runners[(namespace, pod.metadata.name)]
    pid = runner.pids[0]

    batch.delete_namespaced_job("long", namespace, propagation_policy="Background")
    eventually(lambda: not core.list_namespaced_pod(namespace).items)
    eventually(lambda: not _alive(pid), timeout=10)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for every purpose here.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()
