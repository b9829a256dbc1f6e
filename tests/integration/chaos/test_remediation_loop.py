"""anomaly-injection exercises the whole loop: the spike reaches an InsightStream's ingest, its
trigger starts the expected playbook's AgentRun, which scales the service out, and the verdict
names that AgentRun with the times to detect and to recover.

Everything real: the operator, the insight worker as a ``naksha insight-worker`` process taking
HTTP pushes at its Service's address, the AgentRun engine, the Deployment.
"""

from __future__ import annotations

from tests.support import eventually, free_port
from tests.support.agentruns import deployment
from tests.support.chaos import GROUP, VERSION, Chaos, experiment
from tests.support.streams import latency_push_stream

WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # a naksha image: the local kubelet runs it as a process
INGEST_PORT = free_port()


def test_an_injected_latency_spike_is_remediated_by_the_expected_playbook_and_the_verdict_names_its_run(
    naksha_operator, api_client, chaos_namespace
):
    chaos = Chaos(api_client, chaos_namespace)
    chaos.apps.create_namespaced_deployment(chaos_namespace, deployment("checkout", 2))
    chaos.custom.create_namespaced_custom_object(
        GROUP, VERSION, chaos_namespace, "insightstreams", latency_push_stream("latency", INGEST_PORT)
    )
    eventually(
        lambda: (
            chaos.custom.get_namespaced_custom_object(
                GROUP, VERSION, chaos_namespace, "insightstreams", "latency"
            )
            .get("status", {})
            .get("phase")
            == "Running"
        ),
        timeout=90,
    )
    chaos.create(
        experiment(
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
        )
    )

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
