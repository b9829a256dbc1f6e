"""Scene 4, prove it with chaos: ``checkout`` scaled to zero on purpose, and the AgentRun loop brings it back.

The demo opts its namespace in (``naksha.io/chaos=enabled``; the operator refuses experiments
anywhere else), keeps steady traffic on ``checkout`` (its telemetry still flows through Kafka into
the scene-1 InsightStream), and runs a ``ChaosExperiment`` once, as ``naksha chaos run`` does:
the steady state (``checkout`` fully available, its error and latency detectors quiet) is
checked, the fault ``scale-to-zero`` takes every pod away, the traffic's requests are refused, the
``checkout-errors`` detector fires, its trigger starts one AgentRun (``scale-out-on-latency``)
that scales ``checkout`` back out, and the experiment — which expects exactly that playbook —
writes the verdict naming the AgentRun, with the times to detect and to recover and the run's
journal. The fault lasts longer than the loop needs, so its restore finds the replicas already
back and leaves them (the restore writes only while the fault's zero is still there): the
recovery is the loop's, not the experiment's. Every line is read from the objects.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from naksha.demo.scene_remediate import (
    APP,
    STEADY_RATE,
    deployment_body,
    desired_replicas,
    ready_replicas,
    service_body,
    service_ip,
)
from naksha.demo.stage import Stage
from naksha.demo.telemetry import (
    LATENCY_DETECTOR,
    OUTAGE_DETECTOR,
    OUTAGE_TRIGGER,
    STREAM,
    ensure_stream,
    stream_detectors,
    topic_for,
)
from naksha.demo.traffic import Traffic
from naksha.kube import Conflict, NotFound
from naksha.models import timestamps
from naksha.models.group import API_VERSION
from naksha.models.labels import CHAOS_OPT_IN, CHAOS_RUN
from naksha.models.resources import AGENT_RUNS, CHAOS_EXPERIMENTS, DEPLOYMENTS

EXPERIMENT = "checkout-outage"
PLAYBOOK = "scale-out-on-latency"
MTTR_BUDGET = "60s"
# Steady means no incident open on checkout's errors or its latency, before the fault and after.
QUIET_DETECTORS = (OUTAGE_DETECTOR, LATENCY_DETECTOR)


@dataclass(frozen=True)
class ChaosOutcome:
    experiment: str
    verdict: str
    reason: str
    targets: list[str]
    agent_run: str | None
    agent_run_phase: str | None
    replicas_before: int
    replicas_after: int
    time_to_detect_seconds: float | None
    time_to_recover_seconds: float | None
    journal: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        """Passed, remediated by an AgentRun that succeeded, both times measured, a journal kept."""
        return (
            self.verdict == "Passed"
            and self.agent_run is not None
            and self.agent_run_phase == "Succeeded"
            and self.time_to_detect_seconds is not None
            and self.time_to_recover_seconds is not None
            and self.replicas_after > 0
            and bool(self.journal)
        )


def experiment_body(stage: Stage) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ChaosExperiment",
        "metadata": {"name": EXPERIMENT, "namespace": stage.namespace},
        "spec": {
            # Never fires on its own during the demo: the scene starts the one run it shows.
            "schedule": "0 3 1 1 *",
            "target": {"kind": "Deployment", "selector": {"matchLabels": {"app": APP}}, "mode": "all"},
            "fault": {"type": "scale-to-zero"},
            # Longer than the loop takes to scale checkout back, so the restore finds it done.
            "duration": f"{stage.timings.fault_seconds:g}s",
            "blastRadius": {"maxTargets": 1},
            "steadyState": {
                "probes": [
                    {
                        "name": f"{APP}-available",
                        "type": "kubernetes",
                        "resource": {"kind": "Deployment", "name": APP},
                    },
                    *(
                        {
                            "name": f"{detector}-quiet",
                            "type": "insight",
                            "stream": STREAM,
                            "detector": detector,
                            "mode": "before-after",
                        }
                        for detector in QUIET_DETECTORS
                    ),
                ]
            },
            "expectedRemediation": {"playbook": PLAYBOOK, "mttrBudget": MTTR_BUDGET},
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
    ready_replicas(stage, max(desired_replicas(stage), 1))


def run(stage: Stage) -> ChaosOutcome:
    say = stage.progress.say
    ensure_stream(stage)
    ensure_app(stage)
    before = desired_replicas(stage)
    address = stage.wait_for(f"Service {APP}'s cluster IP", lambda: service_ip(stage))
    traffic = Traffic(
        bootstrap=stage.bootstrap,
        topic=topic_for(stage.namespace),
        targets=lambda: [f"http://{address}/"],
        labels={"service": APP},
        rate=STEADY_RATE,
    ).start()
    try:
        say(f"steady traffic on {APP}: {STEADY_RATE:.0f} requests/s over {before} replicas")
        stage.wait_for("steady telemetry", lambda: len(traffic.samples) >= 2)
        # The experiment checks the steady state before and after; wait for it rather than have
        # the run skipped because an earlier incident's detector has not closed yet.
        stage.wait_for(f"{' and '.join(QUIET_DETECTORS)} to be quiet", lambda: _quiet(stage))
        say(f"steady state: {APP} fully available, {' and '.join(QUIET_DETECTORS)} quiet")
        return _experiment(stage, before)
    finally:
        traffic.stop()


def _experiment(stage: Stage, before: int) -> ChaosOutcome:
    say = stage.progress.say
    stage.kubectl("label", "namespace", stage.namespace, f"{CHAOS_OPT_IN}=enabled", "--overwrite")
    say(f"namespace {stage.namespace} opted in to chaos ({CHAOS_OPT_IN}=enabled)")
    stage.kube.create(experiment_body(stage))
    runs_before = {run["metadata"]["name"] for run in stage.kube.list(AGENT_RUNS, stage.namespace)}
    # What ``naksha chaos run`` does: a new value of the run annotation is one run request.
    request = {"metadata": {"annotations": {CHAOS_RUN: timestamps.to_micro_text(time.time())}}}
    stage.kube.merge_patch(CHAOS_EXPERIMENTS, stage.namespace, EXPERIMENT, request)
    say(
        f"ChaosExperiment {EXPERIMENT}: scale {APP} to zero for {stage.timings.fault_seconds:g}s; "
        f"expects an AgentRun with {PLAYBOOK} to bring it back within {MTTR_BUDGET}"
    )
    stage.wait_for(
        f"{APP} scaled to zero by the fault", lambda: desired_replicas(stage) == 0 or _finished(stage)
    )
    if desired_replicas(stage) == 0:
        say(f"fault injected: Deployment {APP} scaled {before} → 0; its requests are refused")
        name = stage.wait_for(
            f"the {OUTAGE_TRIGGER} trigger's AgentRun",
            lambda: _new_run(stage, runs_before) or _finished(stage),
        )
        if isinstance(name, str):
            say(f"anomaly: {OUTAGE_DETECTOR} fired on {STREAM}")
            say(f"AgentRun {name} created by trigger {OUTAGE_TRIGGER} (playbook {PLAYBOOK})")
            scaled = stage.wait_for(
                f"AgentRun {name}'s scale-out", lambda: _scaled(stage, name) or _finished(stage)
            )
            if isinstance(scaled, tuple):
                say(f"AgentRun {name} scaled Deployment {APP}: {scaled[0]} → {scaled[1]} replicas")
    status = stage.wait_for(f"ChaosExperiment {EXPERIMENT}'s verdict", lambda: _finished(stage))
    assert isinstance(status, dict)
    last = dict((status.get("history") or [{}])[-1])
    journal = [dict(entry) for entry in status.get("journal") or [] if entry.get("run") == last.get("id")]
    say(f"journal of {last.get('id')} (naksha chaos journal {EXPERIMENT}):")
    for entry in journal:
        mark = "" if entry.get("ok", True) else " (failed)"
        say(f"  {entry.get('at')} {entry.get('activity')}{mark}: {entry.get('message')}")
    detect, recover = _seconds(last.get("timeToDetectSeconds")), _seconds(last.get("timeToRecoverSeconds"))
    times = ", ".join(
        f"time to {what} {value:.1f}s"
        for what, value in (("detect", detect), ("recover", recover))
        if value is not None
    )
    say(f"verdict {last.get('verdict')}: {last.get('reason') or ''}" + (f" ({times})" if times else ""))
    return ChaosOutcome(
        experiment=EXPERIMENT,
        verdict=str(last.get("verdict") or ""),
        reason=str(last.get("reason") or last.get("failedExpectation") or ""),
        targets=[str(target) for target in last.get("targets") or []],
        agent_run=last.get("agentRun"),
        agent_run_phase=last.get("agentRunPhase"),
        replicas_before=before,
        replicas_after=desired_replicas(stage),
        time_to_detect_seconds=detect,
        time_to_recover_seconds=recover,
        journal=journal,
    )


def _quiet(stage: Stage) -> bool:
    detectors = stream_detectors(stage)
    return all(int((detectors.get(name) or {}).get("active") or 0) == 0 for name in QUIET_DETECTORS)


def _new_run(stage: Stage, runs_before: set[str]) -> str | None:
    """The AgentRun the outage's trigger created (its name starts with the stream's and trigger's)."""
    prefix = f"{STREAM}-{OUTAGE_TRIGGER}-"
    for run in stage.kube.list(AGENT_RUNS, stage.namespace):
        name = str(run["metadata"]["name"])
        if name not in runs_before and name.startswith(prefix):
            return name
    return None


def _scaled(stage: Stage, name: str) -> tuple[int, int] | None:
    """(from, to) of the run's scale action once it has been applied, read from the run's status."""
    actions = (stage.kube.get(AGENT_RUNS, stage.namespace, name).get("status") or {}).get("actions") or {}
    for action in actions.values():
        if action.get("wpk") == "scale" and action.get("result"):
            result = action["result"]
            return int(result.get("previous", 0)), int(result.get("replicas", 0))
    return None


def _finished(stage: Stage) -> dict[str, Any] | None:
    status = dict(stage.kube.get(CHAOS_EXPERIMENTS, stage.namespace, EXPERIMENT).get("status") or {})
    history = status.get("history") or []
    return status if history and history[-1].get("verdict") else None


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
