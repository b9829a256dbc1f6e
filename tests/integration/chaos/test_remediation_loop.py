"""anomaly-injection exercises the whole loop: the spike reaches an InsightStream's ingest, its
trigger starts the expected playbook's AgentRun, which scales the service out, and the verdict
names that AgentRun with the times to detect and to recover.

Everything real: the operator, the insight worker as a ``naksha insight-worker`` process taking
HTTP pushes at its Service's address, the AgentRun engine, the Deployment. A stream with
``auth: kubernetes`` takes the pushes only with a token its worker reviews: the operator's, of the
ServiceAccount ``naksha-chaos-injector`` the namespace bound to ``create insightstreams/ingest``.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from tests.support import eventually, free_port
from tests.support.agentruns import deployment
from tests.support.chaos import GROUP, VERSION, Chaos, experiment
from tests.support.streams import latency_push_stream

WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # a naksha image: the local kubelet runs it as a process
INGEST_PORT = free_port()


INJECTOR = "naksha-chaos-injector"


def allow_injector(api_client: client.ApiClient, namespace: str, stream: str) -> None:
    """The namespace lets chaos push into ``stream`` (and no other): the account, a Role, its binding.

    The stream's workers review the token with the shipped ClusterRole naksha-access-reviewer
    (the ``access_reviewer_role`` fixture installs it as shipped), which the operator binds to them.
    """
    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": INJECTOR}})
    rule = {"apiGroups": [GROUP], "resources": ["insightstreams/ingest"], "verbs": ["create"]}
    rbac.create_namespaced_role(
        namespace, {"metadata": {"name": INJECTOR}, "rules": [{**rule, "resourceNames": [stream]}]}
    )
    binding = {
        "metadata": {"name": INJECTOR},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": INJECTOR},
        "subjects": [{"kind": "ServiceAccount", "name": INJECTOR, "namespace": namespace}],
    }
    rbac.create_namespaced_role_binding(namespace, binding)


def running_stream(chaos: Chaos, namespace: str, auth: str) -> None:
    body = latency_push_stream("latency", INGEST_PORT, auth=None if auth == "kubernetes" else auth)
    chaos.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "insightstreams", body)
    eventually(
        lambda: (
            chaos.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "insightstreams", "latency")
            .get("status", {})
            .get("phase")
            == "Running"
        ),
        timeout=90,
    )


def spike_experiment(**spec: Any) -> dict[str, Any]:
    return experiment(
        "latency-spike",
        target={"kind": "Deployment", "selector": {"matchLabels": {"app": "checkout"}}, "mode": "all"},
        fault={
            "type": "anomaly-injection",
            "params": {
                "stream": "latency",
                "metric": "http_p99_seconds",
                "value": 4.0,
                "baseline": 0.2,
                "count": 5,
                "labels": {"service": "checkout"},
            },
        },
        duration="4s",
        steadyState={
            "probes": [
                {
                    "name": "p99-quiet",
                    "type": "insight",
                    "stream": "latency",
                    "detector": "p99",
                    "mode": "after",
                }
            ]
        },
        expectedRemediation={"playbook": "scale-out-on-latency", "mttrBudget": "90s"},
        **spec,
    )


@pytest.mark.parametrize("auth", ["none", "kubernetes"])
def test_an_injected_latency_spike_is_remediated_by_the_expected_playbook_and_the_verdict_names_its_run(
    naksha_operator, api_client, chaos_namespace, access_reviewer_role, auth
):
    chaos = Chaos(api_client, chaos_namespace)
    chaos.apps.create_namespaced_deployment(chaos_namespace, deployment("checkout", 2))
    if auth == "kubernetes":
        allow_injector(api_client, chaos_namespace, "latency")
    running_stream(chaos, chaos_namespace, auth)
    chaos.create(spike_experiment())

    run = chaos.verdict("latency-spike", timeout=150)
    assert run["verdict"] == "Passed", run
    # The intent kept the spike's labels (a real API server prunes a schema it cannot see into),
    # so the baseline went to the series the spike opened an incident on.
    assert run["restore"][0]["params"]["labels"] == {"service": "checkout"}
    runs = chaos.custom.list_namespaced_custom_object(GROUP, VERSION, chaos_namespace, "agentruns")["items"]
    (agent_run,) = runs
    name = agent_run["metadata"]["name"]
    assert run["agentRun"] == name and run["agentRunPhase"] == "Succeeded"
    assert f"remediated by AgentRun {name}" in run["reason"]
    assert chaos.apps.read_namespaced_deployment("checkout", chaos_namespace).spec.replicas == 5
    assert 0 <= run["timeToDetectSeconds"] < 30
    assert run["timeToDetectSeconds"] <= run["timeToRecoverSeconds"] < 90
    journal = chaos.status("latency-spike")["journal"]
    assert [e["activity"] for e in journal] == [
        "run-started",
        "steady-state-before",
        "inject",
        "restore",
        "recover",
        "remediation",
        "verdict",
    ]


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("no account", f"create the ServiceAccount {INJECTOR} in "),
        ("no binding", f"{INJECTOR} may not create insightstreams/ingest on latency"),
    ],
)
def test_a_spike_for_an_authenticated_stream_the_injector_may_not_push_to_is_skipped_and_nothing_pushed(
    naksha_operator, api_client, chaos_namespace, access_reviewer_role, setup, reason
):
    chaos = Chaos(api_client, chaos_namespace)
    chaos.apps.create_namespaced_deployment(chaos_namespace, deployment("checkout", 2))
    if setup == "no binding":
        chaos.core.create_namespaced_service_account(chaos_namespace, {"metadata": {"name": INJECTOR}})
    running_stream(chaos, chaos_namespace, "kubernetes")
    chaos.create(spike_experiment())

    run = chaos.verdict("latency-spike", timeout=90)
    assert run["verdict"] == "Skipped", run
    assert reason in run["reason"]
    assert run.get("injectedAt") is None
    stream = chaos.custom.get_namespaced_custom_object(
        GROUP, VERSION, chaos_namespace, "insightstreams", "latency"
    )
    assert not stream.get("status", {}).get("ingested")  # nothing reached the ingest
    assert (
        chaos.custom.list_namespaced_custom_object(GROUP, VERSION, chaos_namespace, "agentruns")["items"]
        == []
    )
