"""One training: data in, artifact and holdout evaluation out, for either trainer; no I/O.

The trainer program (``naksha train``) gathers the data and writes the result; the same function
runs in a Job pod and offline, so what a cluster trains is what ``--input DIR`` trains.
``trainer.params`` are checked here and a bad one is a ``TrainingError`` naming it.

Ranker params: ``contextFields`` (default ``[detector, targetKind]``; also ``stream``, ``signal``,
``label:KEY``), ``priorStrength`` (2), ``candidates`` (default: every playbook seen).
Tuner params: ``methods`` (default: each detector's own), ``objective`` (``f1``, ``precision`` or
``recall``), ``keepRecall`` (default true: only candidates detecting every training incident the
current detector detects), ``incidentBeforeSeconds``/``incidentAfterSeconds`` (300: the window around a
confirmed detection inside which an anomaly counts as right).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from naksha.domain.insight.records import Record
from naksha.domain.learning import ranker as ranking
from naksha.domain.learning import tuner as tuning
from naksha.domain.learning.metrics import mean, rounded
from naksha.domain.learning.outcomes import Outcome, ParsedOutcomes, dataset_hash, valid_context_field
from naksha.domain.learning.split import split_time, time_split
from naksha.domain.learning.swap import tuned_series
from naksha.models.insightstream import Detector

TRAINER_VERSION = "naksha-learning/1"
RANKER_PARAMS = {"contextFields", "priorStrength", "candidates"}
TUNER_PARAMS = {"methods", "objective", "keepRecall", "incidentBeforeSeconds", "incidentAfterSeconds"}
METHODS = ("threshold", "ewma", "rate", "predictive")


class TrainingError(ValueError):
    """The inputs cannot be trained on (bad params, no series for the tuner); says which and why."""


@dataclass
class TrainingResult:
    algorithm: str
    artifact: dict[str, Any]
    metrics: dict[str, float | None]
    holder_metrics: dict[str, float | None] | None
    baseline_metrics: dict[str, float | None]
    evaluation: dict[str, Any]
    samples: int
    holdout: int
    malformed: int
    dataset_sha256: str
    extra: dict[str, Any] = field(default_factory=dict)


def train(
    algorithm: str,
    params: Mapping[str, Any],
    data: ParsedOutcomes,
    holdout_fraction: float,
    *,
    records: Sequence[Record] = (),
    detectors: Sequence[Detector] = (),
    holder_artifact: Mapping[str, Any] | None = None,
) -> TrainingResult:
    if algorithm == "playbook-ranker":
        return train_ranker(params, data, holdout_fraction, holder_artifact)
    if algorithm == "detector-tuner":
        return train_tuner(params, data, holdout_fraction, records, detectors, holder_artifact)
    raise TrainingError(f"unknown trainer algorithm {algorithm!r}")


def train_ranker(
    params: Mapping[str, Any],
    data: ParsedOutcomes,
    holdout_fraction: float,
    holder_artifact: Mapping[str, Any] | None,
) -> TrainingResult:
    _known(params, RANKER_PARAMS)
    fields = params.get("contextFields", list(ranking.DEFAULT_CONTEXT))
    if not isinstance(fields, list) or not all(isinstance(f, str) and valid_context_field(f) for f in fields):
        raise TrainingError(
            "params.contextFields: each must be stream, detector, signal, targetKind or label:KEY, "
            f"not {fields!r}"
        )
    strength = params.get("priorStrength", ranking.DEFAULT_PRIOR_STRENGTH)
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or strength < 0:
        raise TrainingError("params.priorStrength must be a number >= 0")
    listed = params.get("candidates", [])
    if not isinstance(listed, list) or not all(isinstance(c, str) and c for c in listed):
        raise TrainingError("params.candidates must be a list of playbook names")
    outcomes = data.outcomes
    train_set, holdout = time_split(outcomes, holdout_fraction, lambda o: o.finished_at)
    model = ranking.PlaybookRanker(tuple(fields), float(strength), tuple(listed)).fit(train_set)
    result = ranking.evaluate(ranking.ranker_policy(model), holdout)
    fixed = ranking.best_fixed_playbook(train_set)
    baseline = ranking.evaluate(ranking.fixed_policy(fixed), holdout) if fixed else None
    oracle = ranking.evaluate(ranking.oracle_policy(holdout, fields), holdout)
    holder_metrics = None
    if holder_artifact is not None:
        try:
            holder = ranking.PlaybookRanker.from_artifact(holder_artifact)
        except ValueError:
            holder = None  # a holder of another algorithm has no figure here
        if holder is not None:
            holder_metrics = rounded(ranking.evaluate(ranking.ranker_policy(holder), holdout).as_metrics())
    return TrainingResult(
        algorithm="playbook-ranker",
        artifact=model.to_artifact(),
        metrics=rounded(result.as_metrics()),
        holder_metrics=holder_metrics,
        baseline_metrics=rounded(baseline.as_metrics()) if baseline else {},
        evaluation={
            "method": result.method,
            "matched": result.matched,
            "holdout": result.total,
            "baseline": f"fixed playbook {fixed}" if fixed else "none",
            "oracleResolvedRate": None if oracle.resolved_rate is None else round(oracle.resolved_rate, 6),
        },
        samples=len(outcomes),
        holdout=len(holdout),
        malformed=data.malformed,
        dataset_sha256=dataset_hash(outcomes),
    )


def train_tuner(
    params: Mapping[str, Any],
    data: ParsedOutcomes,
    holdout_fraction: float,
    records: Sequence[Record],
    detectors: Sequence[Detector],
    holder_artifact: Mapping[str, Any] | None,
) -> TrainingResult:
    _known(params, TUNER_PARAMS)
    methods = params.get("methods")
    if methods is not None and (
        not isinstance(methods, list) or not set(methods) <= set(METHODS) or not methods
    ):
        raise TrainingError(f"params.methods must be a non-empty list of {', '.join(METHODS)}")
    objective = params.get("objective", "f1")
    if objective not in ("f1", "precision", "recall"):
        raise TrainingError("params.objective must be f1, precision or recall")
    keep_recall = params.get("keepRecall", True)
    if not isinstance(keep_recall, bool):
        raise TrainingError("params.keepRecall must be true or false")
    before = _seconds(params, "incidentBeforeSeconds")
    after = _seconds(params, "incidentAfterSeconds")
    if not detectors:
        raise TrainingError("the detector tuner needs the streams' detectors (source.insightStreams)")
    if not records:
        raise TrainingError("the detector tuner needs the streams' history; none was read")
    ordered = sorted(records, key=lambda r: r.ts)
    split_at = split_time(ordered[0].ts, ordered[-1].ts, holdout_fraction)
    labelled = [o for o in data.outcomes if o.detector and o.detected_at is not None]
    incidents = tuning.incidents_from_outcomes(labelled, before=before, after=after)
    result = tuning.tune(
        detectors, ordered, incidents, split_at, methods=methods, objective=objective, keep_recall=keep_recall
    )
    if not result.detectors:
        raise TrainingError("no detector's metric appears in the history")
    holder_metrics = None
    if holder_artifact is not None and holder_artifact.get("algorithm") == "detector-tuner":
        holder_metrics = _holder_tuner_metrics(holder_artifact, ordered, incidents, split_at)
    held_out = [o for o in labelled if (o.detected_at or 0) >= split_at]
    return TrainingResult(
        algorithm="detector-tuner",
        artifact=result.artifact(),
        metrics=rounded(result.holdout().as_metrics()),
        holder_metrics=holder_metrics,
        baseline_metrics=rounded(result.baseline().as_metrics()),
        evaluation={
            "method": "replay of the worker's detectors over the labelled history",
            "splitAt": split_at,
            "falsePositives": result.holdout().false_positives,
            "baselineFalsePositives": result.baseline().false_positives,
            "incidents": result.holdout().incidents,
            "detectors": {
                d.name: {
                    "candidates": d.candidates,
                    "method": d.chosen["method"],
                    "params": d.chosen.get("params", {}),
                    "seriesTuned": len(d.series),  # series with parameters of their own
                }
                for d in result.detectors
            },
        },
        samples=len(labelled),
        holdout=len(held_out),
        malformed=data.malformed,
        dataset_sha256=dataset_hash(labelled),
        extra={"records": len(ordered)},
    )


def _holder_tuner_metrics(
    holder: Mapping[str, Any],
    records: Sequence[Record],
    incidents: Mapping[str, Sequence[tuning.Incident]],
    split_at: float,
) -> dict[str, float | None] | None:
    try:
        specs = [Detector.model_validate(spec) for spec in (holder.get("detectors") or {}).values()]
        # The holder as the workers run it: its per-series overrides too.
        overrides = [tuned_series(holder, spec, spec) for spec in specs]
    except ValueError:
        return None
    counts = []
    end = records[-1].ts + 1e-9
    for spec, own in zip(specs, overrides, strict=True):
        raised = tuning.replay_with_overrides(spec, own, [r for r in records if r.metric == spec.metric])
        counts.append(tuning.score(raised, incidents.get(spec.name, ()), split_at, end))
    return rounded(tuning.total(counts).as_metrics()) if counts else None


def outcome_summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Counts a status or a report shows next to the metrics."""
    recover = [o.time_to_recover for o in outcomes if o.resolved and o.time_to_recover is not None]
    return {
        "runs": len(outcomes),
        "resolved": sum(o.resolved for o in outcomes),
        "meanRecoverySeconds": mean(recover),
    }


def _known(params: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise TrainingError(
            f"unknown trainer params: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def _seconds(params: Mapping[str, Any], name: str) -> float:
    value = params.get(name, 300.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise TrainingError(f"params.{name} must be a number of seconds >= 0")
    return float(value)
