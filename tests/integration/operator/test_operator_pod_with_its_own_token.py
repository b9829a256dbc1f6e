"""The operator as a cluster runs it: the shipped Deployment's pod, with the token its node gives it.

``manifests/`` is server-side applied as shipped (one replica); the node (the local kubelet, or the
real backend's node agent) runs the operator's pod as a process in its own network namespace, with
nothing but a token of ``naksha-operator`` bound to the pod (minted through TokenRequest on
kube-apiserver) and the RBAC ``manifests/rbac.yaml`` grants. The operator starts an insight
worker and an executor Job, which the node runs the same way with their own accounts' tokens.
Every sample, plus the AgentRun sample on the Job executor, reaches its expected condition within
60 s, and no log of any of these pods shows a 401 or a 403.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from kubernetes import client
from tests.support import ROOT, Kubectl, eventually
from tests.support.samples import (
    DENIED,
    EXPECTED,
    GROUP,
    SIMULATED,
    SYSTEM,
    VERSION,
    denials,
    get,
    logs,
    sample,
    simulated_deployment,
)

OPERATOR_SELECTOR = "app.kubernetes.io/name=naksha,app.kubernetes.io/component=operator"
JOB_RUN = "scale-checkout-in-a-job"
WORKER_SELECTOR = "naksha.io/insightstream=checkout-latency"  # the sample stream's worker pods


def shipped_as_is(kubectl: Kubectl) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(kubectl("kustomize", str(ROOT / "manifests")).stdout) if d]


@pytest.fixture(scope="module")
def operator_pod(kubectl: Kubectl, api_client: client.ApiClient, naksha_crds: None) -> Iterator[str]:
    """The name of the running, ready pod of the shipped operator Deployment."""
    manifests = yaml.safe_dump_all(shipped_as_is(kubectl))
    # Another test may have deleted naksha-system without waiting: a real API server refuses writes
    # into a namespace until its deletion has finished.
    eventually(lambda: kubectl("get", "namespace", SYSTEM, check=False).returncode != 0, timeout=90)
    kubectl("apply", "--server-side", "--field-manager=naksha-test", "-f", "-", input=manifests)
    core = client.CoreV1Api(api_client)

    def ready_pod() -> str:
        pods = core.list_namespaced_pod(SYSTEM, label_selector=OPERATOR_SELECTOR).items
        assert len(pods) == 1, [p.metadata.name for p in pods]  # none yet, or one still going
        (pod,) = pods
        assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        return str(pod.metadata.name)

    try:
        try:
            name = str(eventually(ready_pod, timeout=120, interval=0.5))
        except AssertionError as error:
            state = kubectl("get", "deploy,rs,pods,sa,events", "-n", SYSTEM, check=False)
            raise AssertionError(f"{error}\n{state.stdout}{state.stderr}") from error
        yield name
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=false", input=manifests)


def the_process_environment(core: client.CoreV1Api, name: str) -> dict[str, str]:
    (status,) = core.read_namespaced_pod(name, SYSTEM).status.container_statuses
    pid = int(status.container_id.removeprefix("local://"))
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in raw if b"=" in entry)


def job_run(namespace: str) -> dict[str, Any]:
    body = sample("agentrun.yaml", namespace)
    body["metadata"]["name"] = JOB_RUN
    body["spec"]["executor"] = "job"
    return body


def test_the_shipped_operator_pod_runs_with_only_its_own_token(operator_pod, control_plane, api_client):
    core = client.CoreV1Api(api_client)
    env = the_process_environment(core, operator_pod)
    directory = Path(control_plane.state_dir) / "pods" / SYSTEM / operator_pod
    assert env["KUBECONFIG"] == str(directory / "kubeconfig")
    kubeconfig = yaml.safe_load(Path(env["KUBECONFIG"]).read_text())
    (user,) = kubeconfig["users"]
    assert user["user"] == {"tokenFile": str(directory / "serviceaccount" / "token")}
    claims = jwt.decode(Path(user["user"]["tokenFile"]).read_text(), options={"verify_signature": False})
    assert claims["sub"] == f"system:serviceaccount:{SYSTEM}:naksha-operator"
    assert claims["kubernetes.io"]["pod"]["name"] == operator_pod
    assert str(control_plane.kubeconfig_path) not in env.values()


def test_every_sample_and_a_job_executed_run_reach_their_condition_in_60_s_with_no_401_or_403(
    operator_pod, api_client, kubectl, fresh_namespace, kafka_broker
):
    custom = client.CustomObjectsApi(api_client)
    client.AppsV1Api(api_client).create_namespaced_deployment(
        fresh_namespace, simulated_deployment("checkout")
    )
    expected = dict(EXPECTED)
    started = time.monotonic()
    for name, (plural, _) in expected.items():
        body = sample(name, fresh_namespace)
        if plural == "insightstreams":  # loopback only: the sample's broker is the test's
            body["spec"]["source"]["kafka"]["bootstrapServers"] = [kafka_broker.bootstrap]
        if plural == "rollouts":
            body["spec"]["template"]["spec"]["containers"][0]["image"] = SIMULATED
        custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, plural, body)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "agentruns", job_run(fresh_namespace)
    )

    def reached() -> bool:
        missing = []
        for name, (plural, check) in expected.items():
            obj = get(custom, fresh_namespace, plural, sample(name, fresh_namespace)["metadata"]["name"])
            if not check(obj):
                missing.append(f"{name}: {json.dumps(obj.get('status'))[:300]}")
        in_a_job = get(custom, fresh_namespace, "agentruns", JOB_RUN).get("status") or {}
        if not (in_a_job.get("phase") == "Succeeded" and in_a_job.get("job") == f"{JOB_RUN}-run"):
            missing.append(f"{JOB_RUN}: {json.dumps(in_a_job)[:300]}")
        assert not missing, missing
        return True

    eventually(reached, timeout=60 - (time.monotonic() - started), interval=0.5)

    core = client.CoreV1Api(api_client)
    accounts = {}
    for namespace, selector in (
        (SYSTEM, OPERATOR_SELECTOR),
        (fresh_namespace, WORKER_SELECTOR),
        (fresh_namespace, f"naksha.io/agent-run={JOB_RUN}"),
    ):
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        assert pods, selector
        accounts[selector] = {p.spec.service_account_name for p in pods}
        text = logs(kubectl, namespace, selector)
        assert text and not denials(text), text[-2000:]
    assert accounts == {
        OPERATOR_SELECTOR: {"naksha-operator"},
        WORKER_SELECTOR: {"checkout-latency-insight"},
        f"naksha.io/agent-run={JOB_RUN}": {f"{JOB_RUN}-run"},
    }
    events = core.list_namespaced_event(fresh_namespace).items
    assert not [e.message for e in events if e.type != "Normal" and DENIED.search(e.message or "")]
