"""Generated histories for the learning tests and benchmark: outcomes whose best playbook depends
on the context, and a labelled series whose noise has blips a loose detector mistakes for incidents.

Both are seeded, so a test that fails, fails the same way again. Logged choices are uniformly
random among the playbooks (what replay evaluation assumes). Also: a ModelVersion body for the
control-plane tests, and waits on its status.
"""

from __future__ import annotations

import random
from typing import Any

from kubernetes import client
from tests.support import eventually

from naksha.domain.insight.records import Record
from naksha.domain.learning.outcomes import rfc3339
from naksha.models.insightstream import Detector

PLAYBOOKS = ("scale-up", "restart", "rollback")
# Resolve probability per (detector, playbook): each context has its own best playbook, and no
# playbook is good everywhere.
RESOLVE = {
    "cpu-high": {"scale-up": 0.85, "restart": 0.30, "rollback": 0.20},
    "latency": {"scale-up": 0.35, "restart": 0.80, "rollback": 0.30},
    "errors": {"scale-up": 0.15, "restart": 0.25, "rollback": 0.90},
}
START = 1_790_000_000.0


def context_history(count: int, seed: int = 7, propensity: bool = False) -> list[dict[str, Any]]:
    """``count`` outcome records, one a minute, contexts and playbooks drawn at random."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        detector = rng.choice(tuple(RESOLVE))
        playbook = rng.choice(PLAYBOOKS)
        resolved = rng.random() < RESOLVE[detector][playbook]
        record: dict[str, Any] = {
            "run": f"default/run-{i}",
            "finishedAt": rfc3339(START + 60 * i),
            "detectedAt": rfc3339(START + 60 * i - 30),
            "detector": detector,
            "targetKind": "Deployment",
            "playbook": playbook,
            "resolved": resolved,
            "acted": True,
        }
        if resolved:
            record["timeToRecoverSeconds"] = round(rng.uniform(20, 120), 3)
        if propensity:
            record["propensity"] = 1 / len(PLAYBOOKS)
        records.append(record)
    return records


def labelled_series(
    samples: int = 20_000, incidents: int = 24, seed: int = 11, step: float = 10.0
) -> tuple[list[Record], list[dict[str, Any]]]:
    """A noisy series with level-shift incidents and one-sample blips, and the outcome records
    that label the incidents (each a run that acted and recovered, detected at the shift)."""
    rng = random.Random(seed)
    values = [100.0 + rng.gauss(0, 1) for _ in range(samples)]
    for _ in range(samples // 250):  # blips: 5-7 sigma, one sample, not incidents
        values[rng.randrange(200, samples)] += rng.choice((-1, 1)) * rng.uniform(5, 7)
    outcomes = []
    spacing = (samples - 400) // incidents
    for n in range(incidents):
        at = 400 + n * spacing + rng.randrange(0, spacing // 3)
        length = 50
        for i in range(at, min(samples, at + length)):
            values[i] += 15.0
        outcomes.append(
            {
                "run": f"default/incident-{n}",
                "finishedAt": rfc3339(START + (at + length) * step),
                "detectedAt": START + at * step,
                "detector": "latency",
                "playbook": "restart",
                "resolved": True,
                "acted": True,
                "timeToRecoverSeconds": length * step,
            }
        )
    records = [Record(START + i * step, "latency_ms", v) for i, v in enumerate(values)]
    return records, outcomes


def loose_detector() -> Detector:
    """The detector as a user first wrote it: a z-score the blips cross."""
    return Detector.model_validate(
        {"name": "latency", "metric": "latency_ms", "method": "ewma", "params": {"ewma": {"zscore": 4.0}}}
    )


GROUP, VERSION = "naksha.io", "v1alpha1"


def model_version(name: str, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": "ranker",
        "source": {"window": "2400h", "minSamples": 50},
        "trainer": {"algorithm": "playbook-ranker", "timeout": "5m"},
        "evaluation": {"metrics": [{"name": "resolved-rate", "threshold": 0.6}], "holdoutFraction": 0.3},
        "promotion": {"policy": "auto", "alias": "production", "margin": 0.01},
    }
    for key, value in changes.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelVersion",
        "metadata": {"name": name},
        "spec": spec,
    }


def status_of(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "modelversions", name)
    return dict(body.get("status") or {})


def settled(custom: client.CustomObjectsApi, namespace: str, name: str, phase: str) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        status = status_of(custom, namespace, name)
        assert status.get("phase") == phase, status
        return status

    return eventually(check, timeout=120, interval=0.5)  # type: ignore[no-any-return]


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status.get("conditions") or [] if c["type"] == type_)
