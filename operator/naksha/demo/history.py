"""The bundled history scene 2 learns from besides the demo's own outcomes: generated, and said so.

A fresh cluster has only the few outcomes the demo's earlier scenes left, too few to learn a
ranking from. The demo therefore seeds the namespace's outcome archive with ``RECORDS`` generated
outcome records: each an incident of one of three kinds on a Deployment or a Rollout, the playbook
tried drawn uniformly among the three built-in ones (what replay evaluation assumes of logged
choices), and resolved with the probability ``RESOLVE`` gives that playbook for that kind of
incident. No playbook is best everywhere, so what the ranker learns depends on the context. The
draws are seeded: every demo seeds the same history. The records are named
``demo-history/incident-N`` so they are never mistaken for runs of this cluster, and they end an
hour before the demo starts (one every ``SPACING_SECONDS``), inside the version's data window.
"""

from __future__ import annotations

import random
from typing import Any

from naksha.domain.learning.outcomes import rfc3339

SCALE_OUT = "scale-out-on-latency"
RESTART = "restart-on-crash-loop"
ROLLBACK = "rollback-on-error-rate"
PLAYBOOKS = (SCALE_OUT, RESTART, ROLLBACK)
# Resolve probability per (detector, target kind) and playbook.
RESOLVE: dict[tuple[str, str], dict[str, float]] = {
    ("p99-latency", "Deployment"): {SCALE_OUT: 0.85, RESTART: 0.30, ROLLBACK: 0.15},
    ("crash-loop", "Deployment"): {SCALE_OUT: 0.20, RESTART: 0.80, ROLLBACK: 0.30},
    ("canary-errors", "Rollout"): {SCALE_OUT: 0.10, RESTART: 0.25, ROLLBACK: 0.90},
}
RECORDS = 600
SPACING_SECONDS = 60.0
SEED = 15
RUN_PREFIX = "demo-history/"


def generated_history(now: float, count: int = RECORDS, seed: int = SEED) -> list[dict[str, Any]]:
    """``count`` outcome records, oldest first, the last one an hour before ``now``."""
    rng = random.Random(seed)
    first = now - 3600.0 - SPACING_SECONDS * (count - 1)
    records = []
    for i in range(count):
        detector, kind = rng.choice(tuple(RESOLVE))
        playbook = rng.choice(PLAYBOOKS)
        resolved = rng.random() < RESOLVE[(detector, kind)][playbook]
        finished = first + SPACING_SECONDS * i
        record: dict[str, Any] = {
            "run": f"{RUN_PREFIX}incident-{i}",
            "finishedAt": rfc3339(finished),
            "detectedAt": rfc3339(finished - 45.0),
            "stream": "telemetry",
            "detector": detector,
            "targetKind": kind,
            "playbook": playbook,
            "resolved": resolved,
            "acted": True,
        }
        if resolved:
            record["timeToRecoverSeconds"] = round(rng.uniform(20.0, 120.0), 3)
        records.append(record)
    return records


def best_playbook(detector: str, kind: str, candidates: tuple[str, ...]) -> str:
    """The candidate the history favours for that context (what a well-trained ranker picks)."""
    rates = RESOLVE[(detector, kind)]
    return max(candidates, key=lambda name: rates[name])


def is_generated(record: dict[str, Any]) -> bool:
    return str(record.get("run", "")).startswith(RUN_PREFIX)
