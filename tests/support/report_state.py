"""Live state for the report tests: one stream, one AgentRun, one Rollout, their Events and a worker;
a promoted ModelVersion with its artifact, alias and outcome archive, a run that used it; an EdgeNode
and one trigger request with its result.

Every number is distinctive, so a test can tell that a report took it from these objects.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
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


ARTIFACT = gzip.compress(b'{"arms": {"p99|Deployment": {}}}', mtime=0)
ARTIFACT_SHA = hashlib.sha256(ARTIFACT).hexdigest()


def model_version() -> dict[str, Any]:
    return {
        "metadata": meta("ranker-v1"),
        "spec": {"model": "ranker"},
        "status": {
            "phase": "Promoted",
            "job": "ranker-v1-train",
            "artifact": {
                "configMap": "ranker-v1-artifact",
                "key": "artifact.json.gz",
                "sha256": ARTIFACT_SHA,
                "sizeBytes": len(ARTIFACT),
            },
            "lineage": {
                "algorithm": "playbook-ranker",
                "window": "24h",
                "samples": 613,
                "holdout": 184,
                "malformed": 2,
                "datasetSha256": "d" * 64,
                "trainerVersion": "0.1.0",
                "startedAt": "2026-11-29T01:02:00Z",
                "finishedAt": "2026-11-29T01:02:04Z",
            },
            "metrics": [
                {
                    "name": "resolved-rate",
                    "value": 0.8461,
                    "baseline": 0.4712,
                    "threshold": 0.6,
                    "passed": True,
                }
            ],
            "verdict": {
                "result": "Passed",
                "message": "every metric passed",
                "evaluation": {"method": "replay"},
            },
        },
    }


def model_config_maps(artifact: bytes = ARTIFACT) -> dict[str, list[dict[str, Any]]]:
    holder = {
        "version": "ranker-v1",
        "artifact": "ranker-v1-artifact",
        "sha256": ARTIFACT_SHA,
        "previous": [],
    }
    outcomes = [{"run": f"demo-history/incident-{i}", "resolved": i % 2 == 0} for i in range(4)]
    outcomes.append({"run": "shop/telemetry-scale-out-1", "resolved": True})
    result = {"outcome": "Succeeded", "exitCode": 0, "output": "Filesystem Size"}
    return {
        "artifacts": [
            {
                "metadata": meta("ranker-v1-artifact"),
                "binaryData": {"artifact.json.gz": base64.b64encode(artifact).decode()},
            }
        ],
        "aliases": [{"metadata": meta("ranker-model-aliases"), "data": {"production": json.dumps(holder)}}],
        "archives": [
            {
                "metadata": meta("naksha-outcomes"),
                "data": {"outcomes.jsonl": "\n".join(map(json.dumps, outcomes))},
            }
        ],
        "edge-triggers": [
            {
                "metadata": meta("edge-trigger-5f1c"),
                "data": {
                    "node": "shop-17",
                    "wpk": "run-command",
                    "params": json.dumps({"command": "disk-usage"}),
                    "run": json.dumps({"namespace": "shop", "name": "shop-17-disk-usage"}),
                    "jti": "jti-7f3a9c",
                    "result": json.dumps(result),
                },
            }
        ],
    }


def chosen_run() -> dict[str, Any]:
    choice = {
        "model": "ranker",
        "alias": "production",
        "modelVersion": "ranker-v1",
        "context": "p99|Deployment",
        "playbook": "scale-out-on-latency",
        "propensity": 0.995,
    }
    return {
        "metadata": meta("checkout-by-model"),
        "spec": {},
        "status": {"phase": "Succeeded", "state": {"playbookChoice": choice}},
    }


def edge_node() -> dict[str, Any]:
    return {
        "metadata": meta("shop-17"),
        "spec": {"identity": {"nodeId": "shop-17"}, "credentials": {"tokenTtl": "10m"}},
        "status": {
            "phase": "Ready",
            "nodeId": "shop-17",
            "registeredTime": "2026-11-29T01:03:00Z",
            "lastHeartbeatTime": "2026-11-29T01:03:30Z",
            "agentVersion": "0.1.0",
            "capabilities": ["run-command"],
            "keyThumbprint": "thumb-42a",
        },
    }


def chaos_experiment() -> dict[str, Any]:
    run = {
        "id": "r1",
        "stage": "Done",
        "startedAt": "2026-11-29T01:05:00Z",
        "startedBy": "command",
        "targets": ["checkout-7f9c"],
        "verdict": "Passed",
        "agentRun": "scale-out-on-latency-1a2b",
        "injectedAt": "2026-11-29T01:05:01Z",
        "detectedAt": "2026-11-29T01:05:03Z",
        "recoveredAt": "2026-11-29T01:05:15.500000Z",
        "restoredAt": "2026-11-29T01:05:21Z",
        "finishedAt": "2026-11-29T01:05:21.400000Z",
        "timeToDetectSeconds": 2.0,
        "timeToRecoverSeconds": 14.5,
    }
    journal = [
        {"run": "r1", "at": f"2026-11-29T01:05:{second}Z", "activity": activity, "message": message}
        for second, activity, message in (
            ("00", "steady-state-before", "2/2 ready"),
            ("01", "inject", "deleted pod checkout-7f9c"),
            ("15", "recover", "steady again"),
        )
    ]
    return {
        "metadata": meta("checkout-pod-kill"),
        "spec": {"fault": {"type": "pod-kill"}},
        "status": {"phase": "Idle", "history": [run], "journal": journal},
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
    objects.update(
        InsightStream=[stream()],
        AgentRun=[agent_run(), chosen_run()],
        Rollout=[rollout()],
        ModelVersion=[model_version()],
        EdgeNode=[edge_node()],
        ChaosExperiment=[chaos_experiment()],
    )
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
    state = LiveState(time.time(), {"gitVersion": "v1.32.0-naksha-local"}, objects, events, [worker])
    state.config_maps = model_config_maps()
    return state
