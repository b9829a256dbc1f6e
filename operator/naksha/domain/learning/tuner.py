"""The detector tuner: replay the project's own detectors over a labelled history, keep the best params.

What is tuned is what runs: every candidate is an InsightStream ``Detector`` spec, replayed with
``naksha.domain.insight.detectors.DetectorRunner`` (the worker's code, hysteresis and cooldown included)
over the history in time order. Each anomaly it raises is a true positive when it falls inside a
labelled incident of its series and a false positive otherwise; an incident counts as detected
when at least one anomaly fell inside it. Incidents are the loop's own labels (runs that acted and
recovered, human ``--incident`` labels); anything raised outside them, including anomalies the
current detector never raised and so nobody labelled, counts as false (the conservative reading).

The candidates are a grid around the current detector (``zscore``/``alpha`` for ``ewma``,
``above``/``below`` at quantiles of the training values for ``threshold``, ``threshold`` for
``predictive``, ``maxChangePerSecond`` for ``rate``), over the methods ``params.methods`` allows.
The choice maximises the objective metric on the training period (ties: fewer false positives,
then the current parameters) among the candidates that detect every training incident the current
detector detects (``keepRecall``, on by default: recall is a constraint of the search, so tuning
never buys fewer false positives with missed incidents it can see, and a detector without labelled
training incidents keeps its parameters); the holdout period scores the choice and the current
detector alike.
The replay runs over the whole history so detectors are warm when the holdout starts; only what
happens after the split counts toward the holdout figures.

Per series: when a detector watches several series, each series with at least
``MIN_SERIES_INCIDENTS`` labelled training incidents of its own is tuned again on its own records,
over the detector-wide choice's method and starting from that choice (which it must match in
recall); a different choice becomes the series' override (``series`` in the artifact, beside the
detector-wide set, and only when there is one). Every other series stays on the detector-wide set;
the detector's figures are those of the detector-wide set and the overrides together.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from naksha.domain.insight.detectors import DetectorRunner
from naksha.domain.insight.records import Labels, Record
from naksha.domain.learning.metrics import DetectionCounts
from naksha.domain.learning.outcomes import Outcome
from naksha.models.insightstream import Detector

EWMA_ZSCORES = (3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0)
EWMA_ALPHAS = (0.01, 0.02, 0.05, 0.1)
PREDICTIVE_THRESHOLDS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
THRESHOLD_QUANTILES = (0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
RATE_FACTORS = (0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
# A series needs this many labelled training incidents of its own to be tuned apart from its
# detector: with fewer, its own figures are too thin to trust over the detector-wide ones.
MIN_SERIES_INCIDENTS = 3


@dataclass(frozen=True, slots=True)
class Incident:
    """A labelled incident of one series (``labels`` None: of every series of the detector)."""

    start: float
    end: float
    labels: Labels | None = None

    def covers(self, ts: float, labels: Labels) -> bool:
        return self.start <= ts <= self.end and (self.labels is None or self.labels == labels)


@dataclass(frozen=True, slots=True)
class Raised:
    ts: float
    labels: Labels


@dataclass(frozen=True, slots=True)
class TunedSeries:
    labels: Labels
    chosen: dict[str, Any]  # the series' own detector spec (wire form), the detector-wide method


@dataclass
class TunedDetector:
    name: str
    chosen: dict[str, Any]  # the detector spec (wire form) the tuner chose
    train: DetectionCounts
    holdout: DetectionCounts
    baseline_holdout: DetectionCounts
    candidates: int
    series: list[TunedSeries] = field(default_factory=list)  # overrides of ``chosen`` per series


@dataclass
class TunerResult:
    detectors: list[TunedDetector] = field(default_factory=list)

    def holdout(self) -> DetectionCounts:
        return total(d.holdout for d in self.detectors)

    def baseline(self) -> DetectionCounts:
        return total(d.baseline_holdout for d in self.detectors)

    def artifact(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "algorithm": "detector-tuner",
            "detectors": {d.name: d.chosen for d in self.detectors},
        }
        # Only when there are overrides: an artifact without any is the same bytes as before.
        series = {
            d.name: [{"labels": dict(s.labels), "spec": s.chosen} for s in d.series]
            for d in self.detectors
            if d.series
        }
        if series:
            document["series"] = series
        return document


def replay(detector: Detector, records: Iterable[Record]) -> list[Raised]:
    """The anomalies the worker's detector code raises over ``records`` (in the order given)."""
    runner = DetectorRunner(detector)
    raised = []
    observe, matches = runner.observe, runner.matches
    for record in records:
        if matches(record):
            anomaly = observe(record)
            if anomaly is not None:
                raised.append(Raised(anomaly.detected_at, anomaly.labels))
    return raised


def replay_with_overrides(
    detector: Detector, overrides: Mapping[Labels, Detector], records: Sequence[Record]
) -> list[Raised]:
    """What the worker raises with ``overrides`` applied: each series is judged on its own, so
    the overridden series are replayed with their own spec and every other with ``detector``."""
    if not overrides:
        return replay(detector, records)
    raised = replay(detector, [r for r in records if r.labels not in overrides])
    for labels, own in overrides.items():
        raised.extend(replay(own, [r for r in records if r.labels == labels]))
    return sorted(raised, key=lambda r: r.ts)


def score(
    raised: Sequence[Raised], incidents: Sequence[Incident], start: float, end: float
) -> DetectionCounts:
    """Counts over ``[start, end)``: anomalies raised in it, incidents that start in it."""
    in_period = [r for r in raised if start <= r.ts < end]
    period_incidents = [i for i in incidents if start <= i.start < end]
    detected = sum(1 for i in period_incidents if any(i.covers(r.ts, r.labels) for r in raised))
    true_positive = sum(1 for r in in_period if any(i.covers(r.ts, r.labels) for i in incidents))
    return DetectionCounts(true_positive, len(in_period) - true_positive, len(period_incidents), detected)


def candidates(base: Detector, values: Sequence[float], methods: Sequence[str]) -> list[Detector]:
    """The grid of detector specs around ``base`` (``values``: the training values, for quantiles)."""
    specs: list[dict[str, Any]] = []
    wire = base.model_dump(by_alias=True, exclude_none=True)
    ordered = sorted(values)
    for method in methods:
        if method == "ewma":
            for zscore, alpha in itertools.product(EWMA_ZSCORES, EWMA_ALPHAS):
                ewma = {**(wire.get("params", {}).get("ewma") or {}), "zscore": zscore, "alpha": alpha}
                specs.append({**wire, "method": "ewma", "params": {"ewma": ewma}})
        elif method == "predictive":
            for threshold in PREDICTIVE_THRESHOLDS:
                predictive = {**(wire.get("params", {}).get("predictive") or {}), "threshold": threshold}
                specs.append({**wire, "method": "predictive", "params": {"predictive": predictive}})
        elif method == "threshold" and ordered:
            bound = (wire.get("params", {}).get("threshold")) or {"above": 0.0}
            for q in THRESHOLD_QUANTILES:
                high = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
                low = ordered[max(0, int((1 - q) * len(ordered)) - 1)]
                bounds = {k: (high if k == "above" else low) for k in bound if k in ("above", "below")}
                specs.append({**wire, "method": "threshold", "params": {"threshold": bounds}})
        elif method == "rate" and base.params.rate is not None:
            rate = wire["params"]["rate"]
            for factor in RATE_FACTORS:
                changed = {**rate, "maxChangePerSecond": rate["maxChangePerSecond"] * factor}
                specs.append({**wire, "method": "rate", "params": {"rate": changed}})
    return [Detector.model_validate(spec) for spec in specs]


def covered(
    raised: Sequence[Raised], incidents: Sequence[Incident], start: float, end: float
) -> frozenset[int]:
    """Which of the incidents starting in ``[start, end)`` at least one anomaly fell inside (by index)."""
    return frozenset(
        n
        for n, incident in enumerate(incidents)
        if start <= incident.start < end and any(incident.covers(r.ts, r.labels) for r in raised)
    )


def tune_detector(
    base: Detector,
    records: Sequence[Record],
    incidents: Sequence[Incident],
    split_at: float,
    *,
    methods: Sequence[str] | None = None,
    objective: str = "f1",
    keep_recall: bool = True,
) -> TunedDetector:
    """The best of the grid on the training period, and how it and ``base`` do on the holdout.

    ``keep_recall`` (the default): recall is a constraint of the search, not only a term of the
    objective. A candidate may be chosen only if it detects every training incident that ``base``
    detects (the same incidents, not merely as many), so its training recall is never below the
    current parameters'; among those the objective decides. Without a labelled incident in the
    training period there is no evidence to weigh missed incidents against, so the current
    parameters stay (the objective would otherwise pick whatever fires least).
    """
    mine = [r for r in records if r.metric == base.metric]
    if not mine:
        raise ValueError(f"no records of metric {base.metric!r} for detector {base.name!r}")
    start, end = mine[0].ts, mine[-1].ts + 1e-9
    training_values = [r.value for r in mine if r.ts < split_at]
    grid = [base, *candidates(base, training_values, methods or [base.method])]
    if keep_recall and not any(start <= i.start < split_at for i in incidents):
        grid = grid[:1]
    best: tuple[tuple[float, int, int], Detector, list[Raised]] | None = None
    required: frozenset[int] = frozenset()
    base_raised: list[Raised] = []
    for index, candidate in enumerate(grid):
        raised = replay(candidate, mine)
        if index == 0:
            base_raised = raised  # the base detector is the grid's first entry
            if keep_recall:
                required = covered(raised, incidents, start, split_at)
        if required and not required <= covered(raised, incidents, start, split_at):
            continue
        counts = score(raised, incidents, start, split_at)
        figure = counts.as_metrics().get(objective)
        # Higher objective first, then fewer false positives, then the current parameters (index 0).
        key = (figure if figure is not None else -1.0, -counts.false_positives, -index)
        if best is None or key > best[0]:
            best = (key, candidate, raised)
    assert best is not None  # the grid holds at least the base detector, which always qualifies
    _, chosen, chosen_raised = best
    return TunedDetector(
        name=base.name,
        chosen=chosen.model_dump(by_alias=True, exclude_none=True),
        train=score(chosen_raised, incidents, start, split_at),
        holdout=score(chosen_raised, incidents, split_at, end),
        baseline_holdout=score(base_raised, incidents, split_at, end),
        candidates=len(grid),
    )


def tune(
    detectors: Sequence[Detector],
    records: Sequence[Record],
    incidents: Mapping[str, Sequence[Incident]],
    split_at: float,
    *,
    methods: Sequence[str] | None = None,
    objective: str = "f1",
    keep_recall: bool = True,
    per_series: bool = True,
) -> TunerResult:
    """Tune each detector that has records, then its well-labelled series (``tune_series``);
    ``incidents`` are keyed by detector name."""
    ordered = sorted(records, key=lambda r: r.ts)
    result = TunerResult()
    metrics = {r.metric for r in ordered}
    for detector in detectors:
        if detector.metric in metrics:
            own = incidents.get(detector.name, ())
            tuned = tune_detector(
                detector,
                ordered,
                own,
                split_at,
                methods=methods,
                objective=objective,
                keep_recall=keep_recall,
            )
            if per_series:
                tune_series(
                    tuned, detector, ordered, own, split_at, objective=objective, keep_recall=keep_recall
                )
            result.detectors.append(tuned)
    return result


def tune_series(
    tuned: TunedDetector,
    base: Detector,
    records: Sequence[Record],
    incidents: Sequence[Incident],
    split_at: float,
    *,
    objective: str = "f1",
    keep_recall: bool = True,
    min_incidents: int = MIN_SERIES_INCIDENTS,
) -> None:
    """Give ``tuned`` per-series overrides where a series has enough labels of its own, and
    recount its figures with them. A detector of one series keeps the detector-wide set alone."""
    chosen = Detector.model_validate(tuned.chosen)
    runner = DetectorRunner(base)
    mine = [r for r in records if runner.matches(r)]
    groups: dict[Labels, list[Record]] = {}
    for record in mine:
        groups.setdefault(record.labels, []).append(record)
    if len(groups) < 2:
        return
    overrides: dict[Labels, Detector] = {}
    for labels, series_records in groups.items():
        labelled = [i for i in incidents if i.labels == labels and i.start < split_at]
        if len(labelled) < min_incidents:
            continue
        relevant = [i for i in incidents if i.labels is None or i.labels == labels]
        own = tune_detector(
            chosen,
            series_records,
            relevant,
            split_at,
            methods=[chosen.method],
            objective=objective,
            keep_recall=keep_recall,
        )
        if own.chosen != tuned.chosen:
            tuned.series.append(TunedSeries(labels, own.chosen))
            overrides[labels] = Detector.model_validate(own.chosen)
    if overrides:
        start, end = mine[0].ts, mine[-1].ts + 1e-9
        raised = replay_with_overrides(chosen, overrides, mine)
        tuned.train = score(raised, incidents, start, split_at)
        tuned.holdout = score(raised, incidents, split_at, end)


def incidents_from_outcomes(
    outcomes: Iterable[Outcome], *, before: float = 300.0, after: float = 300.0
) -> dict[str, list[Incident]]:
    """Per detector, the incidents the outcomes confirm (runs labelled or judged ``incident``).

    The window opens ``before`` seconds ahead of the detection (a detector that fires earlier is
    right) and closes at recovery, or ``after`` seconds past the detection without one.
    """
    found: dict[str, list[Incident]] = {}
    for outcome in outcomes:
        if outcome.incident != "incident" or outcome.detected_at is None or not outcome.detector:
            continue
        end = outcome.detected_at + (outcome.time_to_recover if outcome.time_to_recover else after)
        labels = outcome.labels or None
        found.setdefault(outcome.detector, []).append(Incident(outcome.detected_at - before, end, labels))
    return found


def total(counts: Iterable[DetectionCounts]) -> DetectionCounts:
    items = list(counts)
    return DetectionCounts(
        sum(c.true_positives for c in items),
        sum(c.false_positives for c in items),
        sum(c.incidents for c in items),
        sum(c.detected for c in items),
    )
