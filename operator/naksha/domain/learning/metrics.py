"""The evaluation metrics ``spec.evaluation`` may name, from counts; each defined for empty input.

``precision``/``recall``/``f1`` judge detections against labelled incidents; ``resolved-rate`` and
``mttr-seconds`` judge remediations. An undefined figure (no detections, no resolved run) is None,
never a made-up 0 or 1, and a threshold on a None figure fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

METRICS = ("precision", "recall", "f1", "resolved-rate", "mttr-seconds")
# Which way is better, for comparing two versions on one metric.
HIGHER_IS_BETTER = {
    "precision": True,
    "recall": True,
    "f1": True,
    "resolved-rate": True,
    "mttr-seconds": False,
}


@dataclass(frozen=True, slots=True)
class DetectionCounts:
    true_positives: int  # anomalies raised inside a labelled incident (first per incident)
    false_positives: int  # anomalies raised outside every labelled incident
    incidents: int  # labelled incidents in the period
    detected: int  # of which at least one anomaly fell inside

    @property
    def precision(self) -> float | None:
        raised = self.true_positives + self.false_positives
        return self.true_positives / raised if raised else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.incidents if self.incidents else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

    def as_metrics(self) -> dict[str, float | None]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1}


def resolved_rate(resolved: Iterable[bool]) -> float | None:
    values = list(resolved)
    return sum(values) / len(values) if values else None


def mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def rounded(metrics: Mapping[str, float | None], digits: int = 6) -> dict[str, float | None]:
    return {name: None if value is None else round(value, digits) for name, value in metrics.items()}


def better(metric: str, candidate: float | None, holder: float | None, margin: float) -> bool:
    """Whether ``candidate`` beats ``holder`` on ``metric`` by at least ``margin`` (absolute).

    No holder figure means nothing to beat; no candidate figure never beats anything.
    """
    if candidate is None:
        return False
    if holder is None:
        return True
    if HIGHER_IS_BETTER[metric]:
        return candidate >= holder + margin
    return candidate <= holder - margin
