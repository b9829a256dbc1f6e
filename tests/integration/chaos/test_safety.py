"""Safety: abort conditions, the cluster-wide kill switch, namespaces that did not opt in, commands.

Faults here are long (two minutes) so that only the safety mechanism under test can end them.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, watch
from tests.support import eventually, free_port
from tests.support.chaos import Chaos, available_probe, demo_deployment, experiment

CONTROL_NAMESPACE = f"chaos-control-{uuid.uuid4().hex[:6]}"
OPERATOR_ENV = {"NAKSHA_CHAOS_CONTROL": f"{CONTROL_NAMESPACE}/naksha-chaos"}


def simulated(name: str, replicas: int = 2) -> dict:
    body = demo_deployment(name, replicas)
    body["spec"]["template"]["spec"]["containers"] = [{"name": "c", "image": "app:1"}]
    return body


def scale_to_zero(name: str, deployment: str, **spec) -> dict:
    return experiment(
        name,
        target={"kind": "Deployment", "selector": {"matchLabels": {"app": deployment}}, "mode": "all"},
        fault={"type": "scale-to-zero"},
        duration="120s",
        steadyState={"probes": [available_probe(deployment, mode="before")]},
        **spec,
    )


class Switchable(http.server.BaseHTTPRequestHandler):
    healthy = True

    def do_GET(self) -> None:
        self.send_response(200 if type(self).healthy else 500)
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def health_endpoint() -> Iterator[tuple[str, type[Switchable]]]:
    handler = type("Health", (Switchable,), {"healthy": True})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health", handler
    server.shutdown()


def replicas_restored_at(
    api_client: client.ApiClient, namespace: str, name: str, replicas: int, timeout: int = 30
) -> float:
    """The moment (time.time) a watch sees the Deployment's replicas back at ``replicas``."""
    apps = client.AppsV1Api(api_client)
    for event in watch.Watch().stream(
        apps.list_namespaced_deployment,
        namespace,
        field_selector=f"metadata.name={name}",
        timeout_seconds=timeout,
    ):
        if (event["raw_object"].get("spec") or {}).get("replicas") == replicas:
            return time.time()
    raise AssertionError(f"{name} not restored to {replicas} within {timeout}s")


def test_an_abort_condition_mid_fault_restores_at_once_and_the_run_is_aborted(
    naksha_operator, api_client, chaos_namespace, health_endpoint
):
    url, endpoint = health_endpoint
    chaos = Chaos(api_client, chaos_namespace)
    chaos.deploy(simulated("api"))
    chaos.ready_pods("api", 2)
    abort = {"name": "api-health", "type": "http", "url": url, "timeout": "1s"}
    chaos.create(scale_to_zero("guarded", "api", abortConditions=[abort]))
    chaos.stage("guarded", "Injected")
    assert chaos.apps.read_namespaced_deployment("api", chaos_namespace).spec.replicas == 0

    endpoint.healthy = False
    flipped = time.time()
    restored = replicas_restored_at(api_client, chaos_namespace, "api", 2)
    run = chaos.verdict("guarded")
    assert run["verdict"] == "Aborted"
    assert "abort condition api-health holds: answered 500, expected 200" in run["reason"]
    assert restored - flipped < 3.0, f"restored {restored - flipped:.2f}s after the condition held"


def test_the_kill_switch_restores_every_running_experiment_within_a_second_and_blocks_new_runs(
    naksha_operator, api_client, chaos_namespace
):
    chaos = Chaos(api_client, chaos_namespace)
    for name in ("one", "two"):
        chaos.deploy(simulated(name))
    for name in ("one", "two"):
        chaos.ready_pods(name, 2)
        chaos.create(scale_to_zero(f"zero-{name}", name))
    for name in ("one", "two"):
        chaos.stage(f"zero-{name}", "Injected")

    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=CONTROL_NAMESPACE)))
    results: dict[str, float] = {}
    watchers = [
        threading.Thread(
            target=lambda n=name: results.__setitem__(
                n, replicas_restored_at(api_client, chaos_namespace, n, 2)
            )
        )
        for name in ("one", "two")
    ]
    for thread in watchers:
        thread.start()
    time.sleep(0.5)  # the watches are open before the switch flips
    switched = time.time()
    core.create_namespaced_config_map(
        CONTROL_NAMESPACE,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="naksha-chaos"), data={"killSwitch": "on"}),
    )
    try:
        for thread in watchers:
            thread.join(timeout=40)
        delays = {name: at - switched for name, at in results.items()}
        assert set(delays) == {"one", "two"}
        assert all(delay < 1.0 for delay in delays.values()), delays
        for name in ("one", "two"):
            run = chaos.verdict(f"zero-{name}")
            assert (run["verdict"], run["reason"]) == ("Aborted", "the cluster-wide chaos kill switch is on")

        chaos.annotate("zero-one", "naksha.io/chaos-run", "again")
        second = chaos.verdict("zero-one", runs=2)
        assert (second["verdict"], second["reason"]) == (
            "Skipped",
            "the cluster-wide chaos kill switch is on",
        )
        assert chaos.apps.read_namespaced_deployment("one", chaos_namespace).spec.replicas == 2
    finally:  # the switch must not outlive this test: the next ones inject
        core.delete_namespaced_config_map("naksha-chaos", CONTROL_NAMESPACE)
        core.delete_namespace(CONTROL_NAMESPACE)


def test_a_namespace_that_did_not_opt_in_is_refused_and_nothing_is_touched(
    naksha_operator, api_client, plain_namespace
):
    chaos = Chaos(api_client, plain_namespace)
    chaos.deploy(simulated("quiet"))
    before = {p.metadata.uid for p in chaos.ready_pods("quiet", 2)}
    chaos.create(
        experiment(
            "refused",
            target={"kind": "Pod", "selector": {"matchLabels": {"app": "quiet"}}, "mode": "all"},
            fault={"type": "pod-kill"},
            duration="1s",
        )
    )
    run = chaos.verdict("refused")
    assert run["verdict"] == "Skipped"
    assert run["reason"] == f"namespace {plain_namespace} is not labelled naksha.io/chaos=enabled"
    assert run.get("injectedAt") is None and run["targets"] == []
    status = chaos.status("refused")
    assert status["phase"] == "Refused"
    allowed = next(c for c in status["conditions"] if c["type"] == "ChaosAllowed")
    assert (allowed["status"], allowed["reason"]) == ("False", "NamespaceNotOptedIn")
    assert {p.metadata.uid for p in chaos.ready_pods("quiet", 2)} == before


def test_an_abort_command_restores_the_fault_and_deleting_an_experiment_restores_it_too(
    naksha_operator, api_client, chaos_namespace
):
    chaos = Chaos(api_client, chaos_namespace)
    for name in ("cmd", "gone"):
        chaos.deploy(simulated(name))
        chaos.ready_pods(name, 2)
        chaos.create(scale_to_zero(f"zero-{name}", name))
        chaos.stage(f"zero-{name}", "Injected")

    chaos.annotate("zero-cmd", "naksha.io/chaos-abort", "1")
    run = chaos.verdict("zero-cmd")
    assert (run["verdict"], run["reason"]) == ("Aborted", "aborted by naksha chaos abort")

    chaos.custom.delete_namespaced_custom_object(
        "naksha.io", "v1alpha1", chaos_namespace, "chaosexperiments", "zero-gone"
    )
    eventually(
        lambda: chaos.apps.read_namespaced_deployment("gone", chaos_namespace).spec.replicas == 2, timeout=30
    )
    assert chaos.apps.read_namespaced_deployment("cmd", chaos_namespace).spec.replicas == 2


def test_invalid_specs_are_refused_at_apply_time_or_with_invalid_spec_and_the_exact_reason(
    naksha_operator, api_client, kubectl, chaos_namespace, tmp_path
):
    too_wide = scale_to_zero("too-wide", "any", blastRadius={"maxPercent": 150})
    too_wide["metadata"]["namespace"] = chaos_namespace
    path = tmp_path / "too-wide.yaml"
    path.write_text(json.dumps(too_wide))
    result = kubectl("apply", "-f", str(path), check=False)
    assert result.returncode != 0 and "spec.blastRadius.maxPercent" in result.stderr

    chaos = Chaos(api_client, chaos_namespace)
    chaos.create(
        experiment(
            "nonsense",
            target={
                "kind": "Pod",
                "selector": {"matchLabels": {"app": "x"}},
                "mode": "fixed-percent",
                "value": 120,
            },
            fault={"type": "pod-kill", "params": {"signal": "KILL"}},
            schedule="*/0 * * * *",
        )
    )
    status = eventually(lambda: (s := chaos.status("nonsense")).get("phase") == "Invalid" and s)
    message = next(c for c in status["conditions"] if c["type"] == "InvalidSpec")["message"]
    assert "spec.target: target.value is a percentage here and must be at most 100" in message
    assert "spec.fault: fault pod-kill has unknown params ['signal'] (allowed: gracePeriodSeconds)" in message
    assert "spec.schedule: cron minute step must be at least 1 in '*/0'" in message
    assert not status.get("history")
