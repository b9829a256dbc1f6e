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
from naksha.models.rollout import AnalysisMetric, MeasurementRecord, MetricRecord

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


def record_measurement(
    progress: MetricRecord,
    measurement: Measurement,
    at: float,
    interval: float,
    stamp: Callable[[float], str],
) -> None:
    """Count a measurement in the metric's record (the last ``KEPT_MEASUREMENTS`` are kept)."""
    progress.taken += 1
    if measurement.phase == "Successful":
        progress.successful += 1
    elif measurement.phase == "Failed":
        progress.failed += 1
    else:
        progress.inconclusive += 1
    entry = MeasurementRecord(
        at=stamp(at),
        phase=measurement.phase,
        result=_plain(measurement.result),
        message=measurement.message or None,
    )
    progress.measurements = [*progress.measurements, entry][-KEPT_MEASUREMENTS:]
    progress.next_at = at + interval


def decide(progress: MetricRecord, metric: AnalysisMetric, *, background: bool) -> str:
    """The metric's verdict so far: Running, Successful, Failed or Inconclusive."""
    if progress.failed > metric.failure_limit:
        return "Failed"
    if progress.inconclusive > metric.inconclusive_limit:
        return "Inconclusive"
    if not background and progress.taken >= (metric.count or 1):
        # Tolerated failed or inconclusive measurements never add up to a success on their own:
        # a canary whose every measurement was inconclusive (no data yet, a server down) is not
        # promoted.
        return "Successful" if progress.successful else "Inconclusive"
    return "Running"


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a result (status only holds plain data)."""
    return json.loads(json.dumps(value, default=str))
