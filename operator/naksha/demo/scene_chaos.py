"""Scene 4, prove it with chaos: a pod of ``checkout`` killed on purpose, the recovery timed.

The demo opts its namespace in (``naksha.io/chaos=enabled``; the operator refuses experiments
anywhere else), then runs a ``ChaosExperiment`` once as ``naksha chaos run`` does: the steady state
(``checkout`` fully available) is checked first, one of its pods — a real ``naksha demo-app``
process — is killed, the Deployment replaces it, and the operator writes the verdict with the
time to recover and the run's journal. What this scene's remediation is: the Deployment's own,
not an AgentRun's (a pod kill is below what the latency detector sees at the demo's traffic), so
the experiment expects recovery within its MTTR budget rather than a playbook; docs/chaos.md
shows experiments that expect one. Every line is read from the experiment's status.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from naksha.demo.scene_remediate import APP, REPLICAS, deployment_body, ready_replicas, service_body
from naksha.demo.stage import Stage
from naksha.kube import Conflict, NotFound
from naksha.models import timestamps
from naksha.models.group import API_VERSION
from naksha.models.labels import CHAOS_OPT_IN, CHAOS_RUN
from naksha.models.resources import CHAOS_EXPERIMENTS, DEPLOYMENTS

EXPERIMENT = "checkout-pod-kill"
MTTR_BUDGET = "60s"


@dataclass(frozen=True)
class ChaosOutcome:
    experiment: str
    verdict: str
    reason: str
    killed: list[str]
    time_to_recover_seconds: float | None
    journal: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        """Passed: one pod killed, the steady state back within the budget, and a journal kept."""
        return self.verdict == "Passed" and len(self.killed) == 1 and bool(self.journal)


def experiment_body(stage: Stage) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ChaosExperiment",
        "metadata": {"name": EXPERIMENT, "namespace": stage.namespace},
        "spec": {
            # Never fires on its own during the demo: the scene starts the one run it shows.
            "schedule": "0 3 1 1 *",
            "target": {"kind": "Pod", "selector": {"matchLabels": {"app": APP}}, "mode": "one"},
            "fault": {"type": "pod-kill"},
            "duration": "2s",
            "steadyState": {
                "probes": [
                    {
                        "name": f"{APP}-available",
                        "type": "kubernetes",
                        "resource": {"kind": "Deployment", "name": APP},
                    }
                ]
            },
            "expectedRemediation": {"mttrBudget": MTTR_BUDGET},
        },
    }


def ensure_app(stage: Stage) -> None:
    """``checkout`` as scene 1 left it, or made now when this scene runs alone."""
    try:
        stage.kube.get(DEPLOYMENTS, stage.namespace, APP)
    except NotFound:
        for body in (deployment_body(stage), service_body(stage)):
            with contextlib.suppress(Conflict):
                stage.kube.create(body)
    ready_replicas(stage, REPLICAS)


def run(stage: Stage) -> ChaosOutcome:
    say = stage.progress.say
    ensure_app(stage)
    stage.kubectl("label", "namespace", stage.namespace, f"{CHAOS_OPT_IN}=enabled", "--overwrite")
    say(f"namespace {stage.namespace} opted in to chaos ({CHAOS_OPT_IN}=enabled)")
    stage.kube.create(experiment_body(stage))
    # What ``naksha chaos run`` does: a new value of the run annotation is one run request.
    request = {"metadata": {"annotations": {CHAOS_RUN: timestamps.to_micro_text(time.time())}}}
    stage.kube.merge_patch(CHAOS_EXPERIMENTS, stage.namespace, EXPERIMENT, request)
    say(f"ChaosExperiment {EXPERIMENT}: kill one pod of {APP}, expect it steady within {MTTR_BUDGET}")
    status = stage.wait_for(f"ChaosExperiment {EXPERIMENT}'s verdict", lambda: _finished(stage))
    assert isinstance(status, dict)
    last = dict((status.get("history") or [{}])[-1])
    journal = [dict(entry) for entry in status.get("journal") or [] if entry.get("run") == last.get("id")]
    for entry in journal:
        mark = "" if entry.get("ok", True) else " (failed)"
        say(f"journal {entry.get('at')} {entry.get('activity')}{mark}: {entry.get('message')}")
    recover = last.get("timeToRecoverSeconds")
    say(
        f"verdict {last.get('verdict')}: {last.get('reason') or ''}"
        + (f" (time to recover {float(recover):.1f}s)" if isinstance(recover, int | float) else "")
    )
    return ChaosOutcome(
        experiment=EXPERIMENT,
        verdict=str(last.get("verdict") or ""),
        reason=str(last.get("reason") or last.get("failedExpectation") or ""),
        killed=[str(target) for target in last.get("targets") or []],
        time_to_recover_seconds=float(recover) if isinstance(recover, int | float) else None,
        journal=journal,
    )


def _finished(stage: Stage) -> dict[str, Any] | None:
    status = dict(stage.kube.get(CHAOS_EXPERIMENTS, stage.namespace, EXPERIMENT).get("status") or {})
    history = status.get("history") or []
    return status if history and history[-1].get("verdict") else None
