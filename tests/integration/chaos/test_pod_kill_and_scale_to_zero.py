"""pod-kill and scale-to-zero on the local control plane: real kopf, pods as processes, verdicts.

The pods run ``naksha demo-app``; a killed pod's process really ends and its Deployment replaces
it. Each run's verdict, times and journal are read from the experiment's status.
"""

from __future__ import annotations

import os
import urllib.request

from tests.support import event_reasons, eventually
from tests.support.chaos import Chaos, available_probe, demo_deployment, experiment
from tests.support.pods import needs_namespaces, pid_of

pytestmark = needs_namespaces


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_pod_is_really_gone_and_replaced_and_the_run_passes_with_measured_times(
    naksha_operator, api_client, chaos_namespace
):
    chaos = Chaos(api_client, chaos_namespace)
    chaos.deploy(demo_deployment("web", replicas=2))
    before = {p.metadata.name: pid_of(p) for p in chaos.ready_pods("web", 2)}
    chaos.create(
        experiment(
            "kill-one",
            target={"kind": "Pod", "selector": {"matchLabels": {"app": "web"}}, "mode": "one"},
            fault={"type": "pod-kill"},
            duration="2s",
            steadyState={"probes": [available_probe("web")]},
            expectedRemediation={"mttrBudget": "60s"},
        )
    )

    run = chaos.verdict("kill-one")
    assert run["verdict"] == "Passed", run
    (killed,) = run["targets"]
    assert killed in before
    assert not alive(before[killed])  # the process itself ended
    after = {p.metadata.name: pid_of(p) for p in chaos.ready_pods("web", 2)}
    assert killed not in after and len(after) == 2  # and a new pod replaced it
    assert 0 < run["timeToRecoverSeconds"] < 60
    # no remediation was expected, none measured (an unset field of a history entry is left out)
    assert run.get("timeToDetectSeconds") is None
    assert run["reason"].startswith("recovered in ")

    status = chaos.status("kill-one")
    journal = status["journal"]
    activities = [entry["activity"] for entry in journal]
    # The replacement pod can be ready before the fault's two seconds are over: then the journal,
    # a timeline, has the recovery before the (nothing to undo) restore.
    assert activities[:3] == ["run-started", "steady-state-before", "inject"]
    assert sorted(activities[3:5]) == ["recover", "restore"] and activities[5:] == ["verdict"]
    assert [entry["at"] for entry in journal] == sorted(entry["at"] for entry in journal)
    assert status["phase"] == "Idle" and status.get("currentRun") is None
    expected = {"RunStarted", "FaultInjected", "FaultRestored", "Passed"}
    eventually(lambda: expected <= event_reasons(chaos.core, chaos_namespace, "kill-one"), timeout=15)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{naksha_operator}/metrics", timeout=5).read().decode()
    assert 'naksha_chaos_runs_total{verdict="Passed"}' in metrics
    assert "naksha_chaos_time_to_recover_seconds_count" in metrics


def test_scale_to_zero_without_the_expected_remediation_fails_naming_it_and_is_restored_anyway(
    naksha_operator, api_client, chaos_namespace
):
    chaos = Chaos(api_client, chaos_namespace)
    chaos.deploy(demo_deployment("shop", replicas=2))
    chaos.ready_pods("shop", 2)
    chaos.create(
        experiment(
            "zero",
            target={"kind": "Deployment", "selector": {"matchLabels": {}}, "mode": "all"},
            fault={"type": "scale-to-zero"},
            duration="3s",
            steadyState={"probes": [available_probe("shop")]},
            expectedRemediation={"playbook": "scale-out-on-latency", "mttrBudget": "30s"},
        )
    )

    chaos.stage("zero", "Injected")
    eventually(lambda: chaos.apps.read_namespaced_deployment("shop", chaos_namespace).spec.replicas == 0)
    run = chaos.verdict("zero")
    assert run["verdict"] == "Failed", run
    assert run["failedExpectation"] == "remediation-started"
    assert "no AgentRun with playbook scale-out-on-latency acted on shop" in run["reason"]
    assert chaos.apps.read_namespaced_deployment("shop", chaos_namespace).spec.replicas == 2
    chaos.ready_pods("shop", 2)
    assert run["restore"] == [
        {
            "kind": "Deployment",
            "name": "shop",
            "field": "replicas",
            "value": 2,
            "injectedValue": 0,
            "params": {},
        }
    ]
