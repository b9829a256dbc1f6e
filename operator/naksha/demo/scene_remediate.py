"""Scene 1, detect and remediate: a traffic surge, a latency spike, one AgentRun, a scale-out, recovery.

``checkout`` is a Deployment of real ``naksha demo-app`` processes, each serving one request at a
time in ``SERVICE_SECONDS`` (a capacity of ``1 / SERVICE_SECONDS`` requests per second per
replica). Steady traffic fits two replicas; the surge does not, so requests queue and the p99
latency the traffic reports through Kafka climbs past the detector's limit. The InsightStream's
worker raises the anomaly, its trigger creates one AgentRun (``scale-out-on-latency``), the run
scales ``checkout`` out, the surge now fits, the latency falls back, the detector recovers and the
run ends resolved with its times. Every line printed is read from the objects as it happens.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from naksha.demo.stage import Stage
from naksha.demo.telemetry import LATENCY_DETECTOR, STREAM, ensure_stream, stream_detectors, topic_for
from naksha.demo.traffic import Traffic
from naksha.kube import NotFound
from naksha.models.resources import AGENT_RUNS as RUNS
from naksha.models.resources import DEPLOYMENTS, SERVICES

APP = "checkout"
REPLICAS = 2
SERVICE_SECONDS = 0.1  # per request, one at a time: 10 requests/s per replica
STEADY_RATE = 8.0  # fits two replicas (capacity 20/s)
SURGE_RATE = 26.0  # does not (the queue grows by 6/s) until five serve it (capacity 50/s)
RECOVERED_WINDOWS = 3  # traffic windows whose median is the latency the recovery left


@dataclass(frozen=True)
class RemediationOutcome:
    agent_runs: list[str]
    run_phase: str
    outcome: dict[str, Any]
    replicas_before: int
    replicas_after: int
    peak_p99_seconds: float
    final_p99_seconds: float

    @property
    def ok(self) -> bool:
        """One run, which scaled out and ended resolved."""
        return (
            len(self.agent_runs) == 1
            and self.run_phase == "Succeeded"
            and self.outcome.get("resolved") is True
            and self.replicas_after > self.replicas_before
        )


def deployment_body(stage: Stage) -> dict[str, Any]:
    labels = {"app": APP}
    container = {
        "name": "app",
        "image": stage.image,
        "args": ["demo-app"],
        "env": [
            {"name": "NAKSHA_DEMO_VERSION", "value": "v1"},
            {"name": "NAKSHA_DEMO_LATENCY", "value": f"{int(SERVICE_SECONDS * 1000)}ms"},
            {"name": "NAKSHA_DEMO_CONCURRENCY", "value": "1"},
        ],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "namespace": stage.namespace, "labels": labels},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def service_body(stage: Stage) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": APP, "namespace": stage.namespace},
        "spec": {"selector": {"app": APP}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def run(stage: Stage) -> RemediationOutcome:
    say = stage.progress.say
    ensure_stream(stage)
    stage.kube.apply(deployment_body(stage))
    stage.kube.apply(service_body(stage))
    say(f"Deployment {APP}: {REPLICAS} replicas of naksha demo-app (one request at a time each), a Service")
    ready_replicas(stage, REPLICAS)
    address = stage.wait_for(f"Service {APP}'s cluster IP", lambda: service_ip(stage))
    url = f"http://{address}/"
    stage.urls[f"demo app ({APP})"] = url
    traffic = Traffic(
        bootstrap=stage.bootstrap,
        topic=topic_for(stage.namespace),
        targets=lambda: [url],
        labels={"service": APP},
        rate=STEADY_RATE,
    ).start()
    try:
        return _story(stage, traffic)
    finally:
        traffic.stop()


def _story(stage: Stage, traffic: Traffic) -> RemediationOutcome:
    say = stage.progress.say
    say(
        f"steady traffic: {STEADY_RATE:.0f} requests/s, telemetry to Kafka topic {topic_for(stage.namespace)}"
    )
    stage.wait_for("steady telemetry", lambda: len(traffic.samples) >= stage.timings.steady_seconds)
    steady = traffic.latest()
    assert steady is not None
    say(f"p99 latency {steady.p99_seconds * 1000:.0f} ms")
    before = {run["metadata"]["name"] for run in stage.kube.list(RUNS, stage.namespace)}
    traffic.rate = SURGE_RATE
    say(f"traffic surge: {SURGE_RATE:.0f} requests/s, more than {REPLICAS} replicas can serve")
    new_runs: list[str] = []

    def anomaly() -> bool:
        live = stream_detectors(stage).get(LATENCY_DETECTOR) or {}
        runs = [r["metadata"]["name"] for r in stage.kube.list(RUNS, stage.namespace)]
        new_runs[:] = [name for name in runs if name not in before]
        return bool(new_runs) or int(live.get("active") or 0) > 0

    stage.wait_for(f"the {LATENCY_DETECTOR} detector to fire", anomaly)
    peak = traffic.latest()
    say(f"anomaly: {LATENCY_DETECTOR} fired on {STREAM} (p99 {peak.p99_seconds if peak else 0:.2f} s)")
    stage.wait_for("the trigger's AgentRun", lambda: anomaly() and bool(new_runs))
    name = new_runs[0]
    say(f"AgentRun {name} created by trigger scale-out (playbook scale-out-on-latency)")
    replicas = stage.wait_for("the scale-out", lambda: (n := desired_replicas(stage)) > REPLICAS and n)
    say(f"AgentRun {name} scaled Deployment {APP}: {REPLICAS} → {replicas} replicas")
    ready_replicas(stage, int(str(replicas)))
    say(f"{replicas} replicas ready")
    scaled_out = len(traffic.samples)
    peak_p99 = max(s.p99_seconds for s in traffic.samples)
    status = stage.wait_for(
        f"AgentRun {name} to end", lambda: (s := run_status(stage, name)).get("phase") in ENDED and s
    )
    assert isinstance(status, dict)
    # The last windows before the run ended, when its verify step had seen the detector recover,
    # by their median: one window is a handful of requests, and on a busy machine a single slow one
    # is noise, not the service's latency. (The windows just after the scale-out still carry the
    # backlog the two replicas left, so they say little about five.)
    served = [sample.p99_seconds for sample in traffic.samples[scaled_out:]][-RECOVERED_WINDOWS:]
    latest = traffic.latest()
    final = statistics.median(served) if served else latest.p99_seconds if latest else 0.0
    say(
        f"detector recovered: p99 latency {final * 1000:.0f} ms under the surge "
        f"(median of the last {len(served)} windows)"
    )
    outcome = dict(status.get("outcome") or {})
    runs_now = [r["metadata"]["name"] for r in stage.kube.list(RUNS, stage.namespace)]
    if status.get("phase") == "Succeeded" and outcome.get("resolved"):
        say(
            f"resolved: AgentRun {name} {status['phase']}; detect {outcome.get('timeToDetectSeconds')} s, "
            f"act {outcome.get('timeToActSeconds')} s, MTTR {outcome.get('timeToRecoverSeconds')} s"
        )
    else:
        say(f"not resolved: AgentRun {name} ended {status.get('phase')}: {status.get('message', '')}")
    traffic.rate = STEADY_RATE
    return RemediationOutcome(
        agent_runs=[n for n in runs_now if n not in before],
        run_phase=str(status.get("phase")),
        outcome=outcome,
        replicas_before=REPLICAS,
        replicas_after=desired_replicas(stage),
        peak_p99_seconds=peak_p99,
        final_p99_seconds=final,
    )


ENDED = ("Succeeded", "Failed", "Refused", "Rejected")


def run_status(stage: Stage, name: str) -> dict[str, Any]:
    return dict(stage.kube.get(RUNS, stage.namespace, name).get("status") or {})


def desired_replicas(stage: Stage) -> int:
    return int((stage.kube.get(DEPLOYMENTS, stage.namespace, APP).get("spec") or {}).get("replicas") or 0)


def ready_replicas(stage: Stage, count: int) -> None:
    def ready() -> bool:
        status = stage.kube.get(DEPLOYMENTS, stage.namespace, APP).get("status") or {}
        return int(status.get("readyReplicas") or 0) >= count

    stage.wait_for(f"{count} ready replicas of {APP}", ready)


def service_ip(stage: Stage) -> str | None:
    try:
        return (stage.kube.get(SERVICES, stage.namespace, APP).get("spec") or {}).get("clusterIP") or None
    except NotFound:
        return None
