"""Cron firing, ``naksha chaos run|abort|journal``, Forbid, and the history trimmed to its limit.

The schedule fires every minute, so this test waits up to a minute for the first firing; the
later runs are started with the command line, as a person would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.support import ROOT, eventually
from tests.support.chaos import GROUP, PLURAL, VERSION, Chaos, available_probe, experiment


def naksha(kubeconfig: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONPATH": str(ROOT / "operator")}
    return subprocess.run(
        [sys.executable, "-m", "naksha", "chaos", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_cron_fires_a_run_commands_run_and_abort_forbid_skips_an_overlap_and_history_is_trimmed(
    naksha_operator, api_client, control_plane, chaos_namespace
):
    chaos = Chaos(api_client, chaos_namespace)
    body = experiment(
        "cron",
        target={"kind": "Deployment", "selector": {"matchLabels": {"app": "tick"}}, "mode": "all"},
        fault={"type": "scale-to-zero"},
        schedule="* * * * *",
        duration="2s",
        historyLimit=2,
        steadyState={"probes": [available_probe("tick")]},
        expectedRemediation={"mttrBudget": "60s"},
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "tick", "labels": {"app": "tick"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "tick"}},
            "template": {
                "metadata": {"labels": {"app": "tick"}},
                "spec": {"containers": [{"name": "c", "image": "app:1"}]},
            },
        },
    }
    chaos.deploy(deployment)
    chaos.ready_pods("tick", 1)
    chaos.create(body)
    kubeconfig = control_plane.kubeconfig_path

    first = chaos.verdict("cron", timeout=100)
    assert (first["startedBy"], first["verdict"]) == ("schedule", "Passed"), first
    assert chaos.status("cron")["lastScheduleTime"]
    # The next firings would be a year away: the rest is driven by commands.
    spec_patch = {"spec": {"schedule": "0 0 1 1 *", "duration": "60s"}}
    chaos.custom.patch_namespaced_custom_object(GROUP, VERSION, chaos_namespace, PLURAL, "cron", spec_patch)

    started = naksha(kubeconfig, "run", "cron", "-n", chaos_namespace)
    assert started.returncode == 0 and "cron run requested" in started.stdout, started.stderr
    chaos.stage("cron", "Injected")
    overlapping = naksha(kubeconfig, "run", "cron", "-n", chaos_namespace)
    assert overlapping.returncode == 0
    aborted = naksha(kubeconfig, "abort", "cron", "-n", chaos_namespace)
    assert aborted.returncode == 0
    second = chaos.verdict("cron", runs=2)
    assert (second["startedBy"], second["verdict"], second["reason"]) == (
        "command",
        "Aborted",
        "aborted by naksha chaos abort",
    )
    journal = chaos.status("cron")["journal"]
    skipped = [e for e in journal if e["activity"] == "schedule" and e["run"] == second["id"]]
    assert skipped and "a run is in progress (Forbid)" in skipped[0]["message"]

    chaos.custom.patch_namespaced_custom_object(
        GROUP, VERSION, chaos_namespace, PLURAL, "cron", {"spec": {"duration": "1s"}}
    )
    assert naksha(kubeconfig, "run", "cron", "-n", chaos_namespace).returncode == 0
    status = eventually_runs(chaos, 3)
    assert [run["id"] for run in status["history"]] == ["run-2", "run-3"]  # run-1 trimmed away
    assert {entry["run"] for entry in status["journal"]} == {"run-2", "run-3"}  # and its journal

    printed = naksha(kubeconfig, "journal", "cron", "-n", chaos_namespace)
    assert printed.returncode == 0
    assert "run-2  Aborted" in printed.stdout and "run-3  Passed" in printed.stdout
    assert "inject" in printed.stdout and "restore" in printed.stdout
    as_json = json.loads(naksha(kubeconfig, "journal", "cron", "-n", chaos_namespace, "--json").stdout)
    assert as_json["runs"] == 3 and len(as_json["history"]) == 2
    missing = naksha(kubeconfig, "journal", "nope", "-n", chaos_namespace)
    assert missing.returncode == 1 and "ChaosExperiment" in missing.stderr and "not found" in missing.stderr


def eventually_runs(chaos: Chaos, runs: int) -> dict[str, Any]:
    return dict(
        eventually(
            lambda: (s := chaos.status("cron")).get("runs") == runs and s.get("currentRun") is None and s,
            timeout=60,
        )
    )
