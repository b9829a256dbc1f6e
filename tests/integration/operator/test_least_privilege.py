"""Naksha as a cluster runs it: every process with only its own ServiceAccount's token, RBAC enforced.

``manifests/`` is server-side applied with the real kubectl (its Deployment scaled to zero), and
the operator runs beside it as a real ``naksha operator`` process whose kubeconfig holds nothing
but a ``tokenFile`` with a token of the ``naksha-operator`` ServiceAccount (a TokenRequest, as
``kubectl create token`` makes it), bound by the ClusterRole ``naksha rbac`` generated. Running it
as a process rather than as the Deployment's pod keeps the test the same on every backend of the
test suite (the Helm chart's test runs the operator as its pod with the token the local kubelet
mounts), and lets the test rotate the token file under the running operator. The insight workers
and executor-Job pods it starts are real processes on the local kubelet, each with the token of
the account the operator made for it. The control plane evaluates RBAC, so a rule missing from
what Naksha ships fails these tests with a 403 rather than a user's cluster.

Changes for sharing one machine: free ports for the operator's endpoints, a ``naksha`` worker
image (so workers and Jobs run as processes), and a simulated image for the sample Rollout's pods
(four demo apps would all bind one port).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from tests.support import ROOT, Kubectl, eventually, free_port
from tests.support.identities import apply, service_account_token
from tests.support.samples import (
    DENIED,
    EXPECTED,
    GROUP,
    SIMULATED,
    SYSTEM,
    VERSION,
    condition,
    denials,
    get,
    logs,
    sample,
    simulated_deployment,
)
from tests.support.streams import latency_push_stream

NAKSHA_IMAGE = "ghcr.io/naksha-io/naksha:test"  # the local kubelet runs a naksha image as a process


@dataclass
class ShippedOperator:
    kubectl: Kubectl
    process: subprocess.Popen[bytes]
    log_path: Path
    token_path: Path

    def log(self) -> str:
        text = self.log_path.read_text(errors="replace")
        assert "Activity 'login' succeeded." in text, text[-2000:]  # kopf logged in through Naksha's loader
        return text

    def rotate_token(self) -> None:
        """What the kubelet does to a projected token: a fresh one, renamed over the old file."""
        fresh = self.kubectl("create", "token", "naksha-operator", "-n", SYSTEM).stdout.strip()
        staged = self.token_path.with_suffix(".new")
        staged.write_text(fresh)
        os.replace(staged, self.token_path)


def shipped_manifests(kubectl: Kubectl) -> list[dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(kubectl("kustomize", str(ROOT / "manifests")).stdout) if d]
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    deployment["spec"]["replicas"] = 0  # the operator runs as the process below
    return documents


def token_file_kubeconfig(admin_kubeconfig: Path, token_path: Path, path: Path) -> Path:
    """The admin kubeconfig's cluster (server, CA) with a user that has only ``tokenFile``."""
    document = yaml.safe_load(admin_kubeconfig.read_text())
    document["users"] = [{"name": "naksha-operator", "user": {"tokenFile": str(token_path)}}]
    for context in document["contexts"]:
        context["context"]["user"] = "naksha-operator"
    path.write_text(yaml.safe_dump(document))
    return path


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def shipped_operator(
    kubectl: Kubectl, control_plane: Any, naksha_crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ShippedOperator]:
    manifests = yaml.safe_dump_all(shipped_manifests(kubectl))
    # Another test may have deleted naksha-system without waiting: a real API server refuses writes
    # into a namespace until its deletion has finished.
    eventually(lambda: kubectl("get", "namespace", SYSTEM, check=False).returncode != 0, timeout=60)
    kubectl("apply", "--server-side", "--field-manager=naksha-test", "-f", "-", input=manifests)
    directory = tmp_path_factory.mktemp("operator")
    token_path = directory / "token"
    token_path.write_text(kubectl("create", "token", "naksha-operator", "-n", SYSTEM).stdout.strip())
    kubeconfig = token_file_kubeconfig(Path(control_plane.kubeconfig_path), token_path, directory / "config")
    health = free_port()
    env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    env |= {
        "KUBECONFIG": str(kubeconfig),
        "NAKSHA_METRICS_PORT": str(free_port()),
        "NAKSHA_HEALTH_PORT": str(health),
        "NAKSHA_IMAGE": NAKSHA_IMAGE,
    }
    log_path = directory / "operator.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "naksha", "operator"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    shipped = ShippedOperator(kubectl, process, log_path, token_path)

    def serving() -> bool:
        if process.poll() is not None:  # no use waiting out the timeout: say why it stopped
            pytest.fail(f"the operator exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
        return healthy(health)

    try:
        eventually(serving, timeout=120)  # a loaded machine can take long to import and log in
        yield shipped
    finally:
        process.terminate()
        process.wait(timeout=30)
        kubectl("delete", "-f", "-", "--ignore-not-found", input=manifests)


def warnings(api_client: client.ApiClient, namespace: str) -> list[str]:
    events = client.CoreV1Api(api_client).list_namespaced_event(namespace).items
    return [
        f"{e.involved_object.kind}/{e.involved_object.name} {e.reason}: {e.message}"
        for e in events
        if e.type != "Normal"
    ]


def test_every_sample_reaches_its_expected_condition_within_60_s_with_no_401_or_403(
    shipped_operator, api_client, fresh_namespace, kafka_broker
):
    assert sorted(EXPECTED) == sorted(p.name for p in (ROOT / "crds" / "samples").glob("*.yaml"))
    custom = client.CustomObjectsApi(api_client)
    client.AppsV1Api(api_client).create_namespaced_deployment(
        fresh_namespace, simulated_deployment("checkout")
    )
    started = time.monotonic()
    for name, (plural, _) in EXPECTED.items():
        body = sample(name, fresh_namespace)
        if plural == "insightstreams":  # loopback only: the sample's broker is the test's
            body["spec"]["source"]["kafka"]["bootstrapServers"] = [kafka_broker.bootstrap]
        if plural == "rollouts":
            body["spec"]["template"]["spec"]["containers"][0]["image"] = SIMULATED
        custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, plural, body)

    def reached() -> list[str]:
        missing = []
        for name, (plural, check) in EXPECTED.items():
            obj = get(custom, fresh_namespace, plural, sample(name, fresh_namespace)["metadata"]["name"])
            if not check(obj):
                missing.append(f"{name}: {json.dumps(obj.get('status'))[:300]}")
        assert not missing, missing
        return ["all"]

    eventually(reached, timeout=60 - (time.monotonic() - started), interval=0.5)
    assert not denials(shipped_operator.log())
    # The sample stream's workers (a selector matching no pod would make this check vacuous).
    worker_logs = logs(shipped_operator.kubectl, fresh_namespace, "naksha.io/insightstream=checkout-latency")
    assert worker_logs and not denials(worker_logs), worker_logs[-2000:]
    assert not [w for w in warnings(api_client, fresh_namespace) if DENIED.search(w)]
    # The Rollout's timer ticked every second meanwhile; none of those ticks is an Event.
    events = client.CoreV1Api(api_client).list_namespaced_event(fresh_namespace).items
    assert not [e for e in events if e.message.startswith("Timer ") and e.message.endswith(" succeeded.")]
    own = [e for e in events if (e.source.component or "").startswith("naksha")]
    assert own and all(e.count and e.first_timestamp and e.last_timestamp and e.event_time for e in own)


def test_a_worker_and_an_executor_job_act_as_their_own_accounts_from_spike_to_recovery(
    shipped_operator, api_client, fresh_namespace, kubectl
):
    apps, custom = client.AppsV1Api(api_client), client.CustomObjectsApi(api_client)
    apps.create_namespaced_deployment(fresh_namespace, simulated_deployment("checkout"))
    port = free_port()
    stream = latency_push_stream("checkout", port, auth=None, executor="job")
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "insightstreams", stream)
    shipped_operator.rotate_token()  # the operator carries on with the token that replaced its first
    eventually(
        lambda: condition(get(custom, fresh_namespace, "insightstreams", "checkout"), "Ready")[0] == "True",
        timeout=60,
    )
    # The worker reviews the pusher's token itself (its account is bound to naksha-access-reviewer),
    # and runs in its own network namespace: pushes go to its Service's address, as in a cluster.
    token = pusher_token(kubectl, fresh_namespace, stream="checkout")
    address = eventually(
        lambda: (
            client.CoreV1Api(api_client)
            .read_namespaced_service("checkout-insight", fresh_namespace)
            .spec.cluster_ip
        ),
        timeout=30,
    )
    now = time.time()
    push(address, port, token, [0.2] * 10 + [4.0] * 3, start=now - 13)

    def the_run() -> str:
        (run,) = custom.list_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "agentruns")["items"]
        return str(run["metadata"]["name"])

    name = eventually(the_run, timeout=30)  # created by the worker, as its own account
    eventually(
        lambda: apps.read_namespaced_deployment("checkout", fresh_namespace).spec.replicas == 5, timeout=60
    )
    push(address, port, token, [0.2] * 5, start=now + 3)
    status = eventually(
        lambda: (
            (s := get(custom, fresh_namespace, "agentruns", name)["status"]).get("phase") == "Succeeded" and s
        ),
        timeout=60,
    )
    assert status["job"] == f"{name}-run" and status["outcome"]["resolved"] is True

    core = client.CoreV1Api(api_client)
    (job_pod,) = core.list_namespaced_pod(fresh_namespace, label_selector=f"naksha.io/agent-run={name}").items
    (worker,) = core.list_namespaced_pod(
        fresh_namespace, label_selector="naksha.io/insightstream=checkout"
    ).items
    assert (job_pod.spec.service_account_name, worker.spec.service_account_name) == (
        f"{name}-run",
        "checkout-insight",
    )
    for selector in (f"naksha.io/agent-run={name}", "naksha.io/insightstream=checkout"):
        text = logs(shipped_operator.kubectl, fresh_namespace, selector)
        assert text and not denials(text), text[-2000:]
    assert not denials(shipped_operator.log())


def test_a_rule_missing_from_the_operators_role_is_a_403_here(shipped_operator, api_client, fresh_namespace):
    """The check above can fail: without one rule the operator cannot give workers their account."""
    rbac = client.RbacAuthorizationV1Api(api_client)
    role = rbac.read_cluster_role("naksha-operator")
    # The rule that lets it apply its workers' accounts (the chaos injector's rule, on one account
    # name only, names serviceaccounts too).
    kept = [r for r in role.rules if (r.resources or []) != ["services", "serviceaccounts"]]
    assert len(kept) == len(role.rules) - 1
    as_dicts = lambda rules: [{**r.to_dict(), "apiGroups": r.api_groups} for r in rules]  # noqa: E731
    rbac.patch_cluster_role("naksha-operator", {"rules": as_dicts(kept)})
    custom = client.CustomObjectsApi(api_client)
    try:
        body = sample("insightstream.yaml", fresh_namespace)
        body["spec"]["replicas"] = 0
        custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "insightstreams", body)
        stream = eventually(
            lambda: (
                (o := get(custom, fresh_namespace, "insightstreams", "checkout-latency"))
                and condition(o, "Degraded") == ("True", "WorkloadApplyFailed")
                and o
            ),
            timeout=30,
        )
        message = next(c["message"] for c in stream["status"]["conditions"] if c["type"] == "Degraded")
        assert "403" in message and "serviceaccounts" in message
    finally:
        rbac.patch_cluster_role("naksha-operator", {"rules": as_dicts(role.rules)})
    eventually(
        lambda: (
            condition(get(custom, fresh_namespace, "insightstreams", "checkout-latency"), "Degraded") is None
        ),
        timeout=30,
    )


def pusher_token(kubectl: Kubectl, namespace: str, stream: str) -> str:
    """A token of a ServiceAccount that may push to ``stream`` only (create insightstreams/ingest)."""
    name = "pusher"
    rule = {"apiGroups": [GROUP], "resources": ["insightstreams/ingest"], "verbs": ["create"]}
    apply(kubectl, {**_meta("Role", name), "rules": [{**rule, "resourceNames": [stream]}]}, namespace)
    binding = {
        **_meta("RoleBinding", name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
    apply(kubectl, binding, namespace)
    return service_account_token(kubectl, namespace, name, "--audience", "naksha")


def _meta(kind: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name}}


def push(address: str, port: int, token: str, values: list[float], start: float) -> None:
    records = [
        {"ts": start + i, "metric": "http_p99_seconds", "value": v, "labels": {"service": "checkout"}}
        for i, v in enumerate(values)
    ]
    request = urllib.request.Request(
        f"http://{address}:{port}/ingest",
        data=json.dumps(records).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 202
