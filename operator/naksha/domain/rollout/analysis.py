"""Rollout analysis, the pure part: judge each measurement, keep a metric's record, decide the metric.

Measurements are taken by ``naksha.controllers.rollout.measurement``. Providers give a measurement's
``result``: a Prometheus instant query's value, an HTTP endpoint's value (at ``jsonPath`` in a JSON
reply, else the status code), an InsightStream detector's live state (``{"anomalous": bool,
"active": n, "value": last anomaly's value}``), or a Job's exit (the Job built from the template;
``true`` when it completed). ``failureCondition`` and ``successCondition`` are safe expressions over
``result``; without them a measurement succeeds when the detector is not anomalous, the Job
completed, or a value was returned. A metric fails when its failed measurements exceed
``failureLimit`` (inconclusive ones: ``inconclusiveLimit``), and succeeds after ``count``
measurements of which at least one succeeded (one if unset; only inconclusive or tolerated failed
ones make it inconclusive; background metrics never "succeed", they only watch for failure).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from naksha.domain.expressions import ExpressionError, compile_expression
from naksha.models.rollout import AnalysisMetric

KEPT_MEASUREMENTS = 10


@dataclass(frozen=True)
class Measurement:
    phase: str  # Successful, Failed, Inconclusive, Pending
    result: Any = None
    message: str = ""


def judge(metric: AnalysisMetric, result: Any) -> Measurement:
    variables = {"result": result}
    try:
        if metric.failure_condition and compile_expression(metric.failure_condition)(variables):
            return Measurement("Failed", result, f"failureCondition {metric.failure_condition!r} holds")
        if metric.success_condition:
            ok = bool(compile_expression(metric.success_condition)(variables))
            return Measurement(
                "Successful" if ok else "Failed",
                result,
                "" if ok else f"successCondition {metric.success_condition!r} does not hold",
            )
    except ExpressionError as error:
        return Measurement("Inconclusive", result, f"the condition could not be evaluated: {error}")
    if isinstance(result, Mapping) and "anomalous" in result:
        return Measurement(
            "Failed" if result["anomalous"] else "Successful",
            result,
            "the detector is anomalous" if result["anomalous"] else "",
        )
    if result is None:
        return Measurement("Inconclusive", None, "no value")
    if result is False:
        return Measurement("Failed", result, "the analysis Job failed")
    return Measurement("Successful", result)


@dataclass
class MetricProgress:
    """A metric's record in ``status.analysis``; ``decide`` says Running, Successful or Failed."""

    taken: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    next_at: float = 0.0
    measurements: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_status(cls, raw: Mapping[str, Any] | None) -> MetricProgress:
        raw = raw or {}
        return cls(
            taken=int(raw.get("taken") or 0),
            successful=int(raw.get("successful") or 0),
            failed=int(raw.get("failed") or 0),
            inconclusive=int(raw.get("inconclusive") or 0),
            next_at=float(raw.get("nextAt") or 0.0),
            measurements=tuple(raw.get("measurements") or ()),
        )

    def as_status(self, phase: str) -> dict[str, Any]:
        return {
            "phase": phase,
            "taken": self.taken,
            "successful": self.successful,
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "nextAt": self.next_at,
            "measurements": list(self.measurements[-KEPT_MEASUREMENTS:]),
        }

    def record(
        self, measurement: Measurement, at: float, interval: float, stamp: Callable[[float], str]
    ) -> None:
        self.taken += 1
        if measurement.phase == "Successful":
            self.successful += 1
        elif measurement.phase == "Failed":
            self.failed += 1
        else:
            self.inconclusive += 1
        entry = {"at": stamp(at), "phase": measurement.phase, "result": _plain(measurement.result)}
        if measurement.message:
            entry["message"] = measurement.message
        self.measurements = (*self.measurements, entry)
        self.next_at = at + interval

    def decide(self, metric: AnalysisMetric, *, background: bool) -> str:
        if self.failed > metric.failure_limit:
            return "Failed"
        if self.inconclusive > metric.inconclusive_limit:
            return "Inconclusive"
        if not background and self.taken >= (metric.count or 1):
            # Tolerated failed or inconclusive measurements never add up to a success on their own:
            # a canary whose every measurement was inconclusive (no data yet, a server down) is not
            # promoted.
            return "Successful" if self.successful else "Inconclusive"
        return "Running"


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a result (status only holds plain data)."""
    return json.loads(json.dumps(value, default=str))
