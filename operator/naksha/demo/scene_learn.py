"""Scene 2, learn: a playbook ranker trained on the outcomes so far, judged, promoted, then used.

The namespace's outcome archive holds what the earlier scenes' runs left (the operator archives
every finished run) and the demo seeds it with its bundled, generated history
(``naksha.demo.history``). A ``ModelVersion`` of the ``playbook-ranker`` trains in a Job (a real
``naksha train`` process on the local kubelet), publishes its artifact with its sha256, is
evaluated on the latest 30 % of the outcomes and promoted to the ``production`` alias. The next
latency incident's AgentRun names no playbook: ``playbookRef: {model, alias, candidates}`` lets the
promoted version choose, and the run records that choice. Every line is read from the objects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from naksha.controllers.modelversion import aliases, archive
from naksha.demo import history
from naksha.demo.scene_remediate import APP, ENDED, run_status
from naksha.demo.stage import Stage
from naksha.demo.telemetry import LATENCY_DETECTOR, STREAM, ensure_stream
from naksha.errors import ConfigError
from naksha.kube import NotFound
from naksha.models.group import API_VERSION
from naksha.models.resources import MODEL_VERSIONS

MODEL = "playbook-ranker"
VERSION = f"{MODEL}-v1"
ALIAS = "production"
CANDIDATES = (history.SCALE_OUT, history.RESTART)
NEXT_RUN = "checkout-latency-by-model"


@dataclass(frozen=True)
class LearnOutcome:
    version: str
    phase: str
    verdict: str
    alias_holder: str | None
    archived_real: int  # outcomes of this cluster's runs in the archive when training started
    archived_generated: int
    samples: int
    sha256: str
    run: str
    run_phase: str
    choice: dict[str, Any] = field(default_factory=dict)
    expected_playbook: str = ""

    @property
    def ok(self) -> bool:
        """Promoted, holding the alias, and the next run took the playbook it chose for that context."""
        return (
            self.phase == "Promoted"
            and self.alias_holder == self.version
            and self.choice.get("modelVersion") == self.version
            and self.choice.get("playbook") == self.expected_playbook
            and self.run_phase in ENDED
        )


def model_version_body(stage: Stage) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelVersion",
        "metadata": {"name": VERSION, "namespace": stage.namespace},
        "spec": {
            "model": MODEL,
            "source": {"window": "24h", "minSamples": 50},
            "trainer": {"algorithm": "playbook-ranker", "timeout": "5m"},
            "evaluation": {
                "holdoutFraction": 0.3,
                "metrics": [
                    {"name": "resolved-rate", "threshold": 0.6},
                    {"name": "mttr-seconds", "threshold": 300, "direction": "atMost"},
                ],
            },
            "promotion": {"policy": "auto", "alias": ALIAS, "margin": 0.01},
        },
    }


def next_incident_run(stage: Stage) -> dict[str, Any]:
    """The run a latency trigger creates, with the choice of playbook left to the promoted model."""
    return {
        "apiVersion": API_VERSION,
        "kind": "AgentRun",
        "metadata": {"name": NEXT_RUN, "namespace": stage.namespace},
        "spec": {
            "playbookRef": {"model": MODEL, "alias": ALIAS, "candidates": list(CANDIDATES)},
            "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
            "signal": {
                "source": f"insightstream/{STREAM}",
                "stream": STREAM,
                "detector": LATENCY_DETECTOR,
                "series": {"service": APP},
            },
            "inputs": {"step": 1, "maxReplicas": 6},
        },
    }


def run(stage: Stage) -> LearnOutcome:
    say = stage.progress.say
    ensure_stream(stage)
    real, generated = seed_history(stage)
    say(
        f"outcome archive: {real} outcome(s) of this cluster's runs + {generated} generated history "
        f"records (naksha.demo.history, seeded)"
    )
    stage.kube.create(model_version_body(stage))
    say(f"ModelVersion {VERSION} created: {MODEL} over the last 24h, holdout 30 %, auto-promote to {ALIAS}")
    status = follow_version(stage)
    artifact = dict(status.get("artifact") or {})
    lineage = dict(status.get("lineage") or {})
    verdict = dict(status.get("verdict") or {})
    holder_entry = aliases.read_aliases(stage.kube, stage.namespace, MODEL).get(ALIAS)
    holder = holder_entry.holder.version if holder_entry else None
    say(f"alias {MODEL}@{ALIAS} → {holder}")
    stage.kube.create(next_incident_run(stage))
    say(
        f"next p99-latency incident on {APP}: AgentRun {NEXT_RUN} asks {MODEL}@{ALIAS} "
        f"to choose among {', '.join(CANDIDATES)}"
    )
    choice = follow_choice(stage)
    ended = stage.wait_for(
        f"AgentRun {NEXT_RUN} to end", lambda: (s := run_status(stage, NEXT_RUN)).get("phase") in ENDED and s
    )
    assert isinstance(ended, dict)
    outcome = dict(ended.get("outcome") or {})
    actions = ", ".join(outcome.get("actions") or [])
    if not actions:
        # The playbook observes the detector first; scene 1's incident has recovered by now.
        actions = "no action, the detector is not anomalous" if ended.get("phase") == "Succeeded" else ""
    said = actions or str(ended.get("message") or "")
    say(f"AgentRun {NEXT_RUN} {ended.get('phase')} with {choice.get('playbook')}: {said}")
    return LearnOutcome(
        version=VERSION,
        phase=str(status.get("phase")),
        verdict=str(verdict.get("result")),
        alias_holder=holder,
        archived_real=real,
        archived_generated=generated,
        samples=int(lineage.get("samples") or 0),
        sha256=str(artifact.get("sha256") or ""),
        run=NEXT_RUN,
        run_phase=str(ended.get("phase")),
        choice=choice,
        expected_playbook=history.best_playbook(LATENCY_DETECTOR, "Deployment", CANDIDATES),
    )


def seed_history(stage: Stage) -> tuple[int, int]:
    """Add the generated history to the archive (once), oldest first; the real and generated counts."""
    generated = history.generated_history(stage.progress.started)

    def with_history(records: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        if any(history.is_generated(r) for r in records):
            return None
        return [*generated, *records]  # the history ends an hour before the demo began: older

    archive.rewrite(stage.kube, stage.namespace, with_history)
    records = archive.read_archive(stage.kube, stage.namespace)
    seeded = sum(1 for r in records if history.is_generated(r))
    return len(records) - seeded, seeded


def version_status(stage: Stage) -> dict[str, Any]:
    try:
        return dict(stage.kube.get(MODEL_VERSIONS, stage.namespace, VERSION).get("status") or {})
    except NotFound:
        return {}


def follow_version(stage: Stage) -> dict[str, Any]:
    """Say each step of the version as its status shows it, until it is promoted (or settles otherwise)."""
    say = stage.progress.say
    told: set[str] = set()
    deadline = time.monotonic() + stage.timings.wait_seconds
    while time.monotonic() < deadline:
        status = version_status(stage)
        if status.get("job") and "job" not in told:
            told.add("job")
            say(f"training Job {status['job']}: naksha train --model-version {stage.namespace}/{VERSION}")
        artifact, lineage = status.get("artifact"), status.get("lineage") or {}
        if artifact and "artifact" not in told:
            told.add("artifact")
            say(
                f"trained on {lineage.get('samples')} outcomes (holdout {lineage.get('holdout')}, "
                f"malformed {lineage.get('malformed')}); artifact {artifact['configMap']} "
                f"{artifact['sizeBytes']} bytes, sha256 {artifact['sha256'][:16]}…"
            )
        verdict = status.get("verdict")
        if verdict and "verdict" not in told:
            told.add("verdict")
            metrics = "; ".join(metric_text(m) for m in status.get("metrics") or [])
            say(f"evaluated ({(verdict.get('evaluation') or {}).get('method')}): {metrics}")
            say(f"verdict {verdict.get('result')}: {verdict.get('message')}")
        phase = status.get("phase")
        if phase == "Promoted":
            say(f"ModelVersion {VERSION} Promoted to {ALIAS} at {status.get('promotedAt')}")
            return status
        if phase == "Failed" or (phase == "Evaluated" and verdict and verdict.get("result") != "Passed"):
            say(f"ModelVersion {VERSION} {phase}: {status.get('message') or (verdict or {}).get('message')}")
            return status
        time.sleep(stage.timings.poll_seconds)
    raise ConfigError(f"the demo waited {stage.timings.wait_seconds:.0f}s for ModelVersion {VERSION}")


def metric_text(metric: dict[str, Any]) -> str:
    def figure(value: Any) -> str:
        return "n/a" if value is None else f"{float(value):.3f}"

    return (
        f"{metric.get('name')} {figure(metric.get('value'))} (threshold {metric.get('threshold')}, "
        f"best fixed playbook {figure(metric.get('baseline'))}, passed {metric.get('passed')})"
    )


def follow_choice(stage: Stage) -> dict[str, Any]:
    def chosen() -> dict[str, Any] | None:
        status = run_status(stage, NEXT_RUN)
        choice = (status.get("state") or {}).get("playbookChoice") or status.get("playbookChoice")
        return dict(choice) if choice else None

    choice = stage.wait_for(f"AgentRun {NEXT_RUN}'s playbook choice", chosen)
    assert isinstance(choice, dict)
    stage.progress.say(
        f"{choice.get('modelVersion') or 'no model'} chose {choice.get('playbook')} for context "
        f"{choice.get('context')} (propensity {choice.get('propensity')}): {choice.get('reason')}"
    )
    return choice
