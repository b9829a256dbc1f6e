"""Live state for the report tests: one stream, one AgentRun, one Rollout, their Events and a worker.

Every number is distinctive, so a test can tell that a report took it from these objects.
"""

from __future__ import annotations

import time
from typing import Any

from naksha.report.capabilities import CAPABILITIES
from naksha.report.state import LiveState, WorkerProbe


def meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": "shop"}


def stream() -> dict[str, Any]:
    return {
        "metadata": meta("telemetry"),
        "spec": {
            "source": {"type": "kafka", "kafka": {"bootstrapServers": ["127.0.0.1:9092"], "topic": "t"}},
            "detectors": [{"name": "p99", "method": "threshold", "metric": "latency"}],
        },
        "status": {
            "phase": "Running",
            "ingested": 4242,
            "rejected": 7,
            "anomalies": 3,
            "agentRuns": 1,
            "detectors": {"p99": {"active": 0, "score": 0.1}},
            "lastAnomaly": {"p99": {"value": 0.8731, "detectedAt": "2026-11-29T01:00:01Z"}},
            "conditions": [{"type": "Ready", "status": "True", "reason": "WorkersReady"}],
        },
    }


def agent_run() -> dict[str, Any]:
    steps = [
        ("observe", "observe", "01:00:02", "01:00:02"),
        ("decide", "decide", "01:00:02", "01:00:03"),
        ("scale", "act", "01:00:03", "01:00:03"),
        ("verify", "verify", "01:00:03", "01:00:15"),
    ]
    return {
        "metadata": meta("telemetry-scale-out-1"),
        "spec": {"signal": {"stream": "telemetry", "detector": "p99", "detectedAt": "2026-11-29T01:00:01Z"}},
        "status": {
            "phase": "Succeeded",
            "stepCount": 4,
            "steps": [
                {"node": n, "type": t, "started": f"2026-11-29T{a}Z", "finished": f"2026-11-29T{b}Z"}
                for n, t, a, b in steps
            ],
            "actions": {"k1": {"wpk": "scale", "plan": {"previous": 2, "replicas": 5}}},
            "outcome": {
                "resolved": True,
                "playbook": "scale-out-on-latency",
                "actions": ["scale:scale"],
                "timeToDetectSeconds": 0.731,
                "timeToActSeconds": 1.204,
                "timeToRecoverSeconds": 12.345,
            },
        },
    }


def rollout() -> dict[str, Any]:
    return {
        "metadata": meta("storefront"),
        "spec": {"gitops": {"repo": "file:///tmp/gitops.git", "path": "apps/x.yaml"}},
        "status": {
            "phase": "RolledBack",
            "stableRevision": "8d2ec85908",
            "currentRevision": "807ba4b2a1",
            "revisions": [{"revision": "80b3ba59a4"}, {"revision": "8d2ec85908"}],
            "rollback": {
                "badRevision": "807ba4b2a1",
                "stableRevision": "8d2ec85908",
                "reason": "analysis canary-errors failed",
                "specReverted": True,
                "at": 1795914676.8,
                "gitops": {"commit": "08b1cdbf71b9c05e5badd9bc490ad9690b38ecf5"},
            },
        },
    }


def event(name: str, kind: str, reason: str, at: str, type_: str = "Normal") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "shop"},
        "involvedObject": {"kind": kind, "name": name},
        "reason": reason,
        "type": type_,
        "lastTimestamp": f"2026-11-29T{at}Z",
        "message": f"{reason} happened",
    }


def live_state(**changes: Any) -> LiveState:
    objects: dict[str, list[dict[str, Any]]] = {c.kind: [] for c in CAPABILITIES}
    objects.update(InsightStream=[stream()], AgentRun=[agent_run()], Rollout=[rollout()])
    objects.update(changes)
    events = [
        event("storefront", "Rollout", "RolloutStarted", "01:01:00"),
        event("storefront", "Rollout", "Promoted", "01:01:20"),
        event("storefront", "Rollout", "RolledBack", "01:01:40", "Warning"),
    ]
    worker = WorkerProbe(
        "shop/telemetry",
        "http://127.1.2.3:8010",
        health='{"status": "ok"}',
        metrics='naksha_insight_ingested_total{stream="telemetry"} 4242.0',
    )
    return LiveState(time.time(), {"gitVersion": "v1.32.0-naksha-local"}, objects, events, [worker])
