"""Anomaly detectors, per series, in constant memory each, with hysteresis so one incident is one anomaly.

Four methods score a sample against the series' recent behaviour (``insight.methods``,
``insight.predictive``), each with a continuous score in [0, 1]:

- ``threshold``: outside ``above``/``below`` is anomalous.
- ``ewma``: the z-score of the sample against an exponentially weighted mean and variance whose
  spread has a floor and which keeps learning, slowly, during an incident.
- ``rate``: change per second from the previous sample, anomalous past ``maxChangePerSecond``;
  two samples further apart than ``window`` give no rate (the gap says nothing about speed), and
  samples closer than a millisecond are skipped.
- ``predictive``: the anomaly likelihood of the recent prediction error, judged against the
  series' own error distribution.

Every method waits for ``minSamples`` samples of a series before it may alert (for ``ewma`` the
baseline needs them; for the others it keeps a fresh series from alerting on its first point).
An alert opens an incident: the series raises one ``Anomaly`` and then stays quiet until it has
been normal for ``cooldownSamples`` samples in a row and ``cooldown`` has passed since the
incident's last anomalous sample (counting samples keeps a series sampled less often than the
cooldown from alerting in bursts), or until ``rearmSamples`` samples have passed since its anomaly
(then its next anomalous sample raises a new one: an incident a noisy series holds open for long
must not hide the next); for ``predictive``, a sample that leaves the series' range raises a new
one already ``noveltyRearmSamples`` samples after the incident's anomaly. Samples whose value or
timestamp is not finite are ignored. Time is the records' own timestamps, so replaying a batch
replays the same decisions.

A ``DetectorBank`` routes records to the detectors whose metric and labels match and keeps at
most ``max_series`` series per detector, evicting the least recently seen (counted in ``evicted``).

Everything a detector remembers about a series is a ``SeriesState`` (``insight.series_state``),
which ``insight.checkpoint`` saves and restores across a worker restart.
"""

from __future__ import annotations

import datetime
import math
from collections import OrderedDict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from naksha.domain.insight.methods import EwmaSettings, ewma_score, rate_score, threshold_score
from naksha.domain.insight.predictive import PredictiveSettings, predictive_score
from naksha.domain.insight.records import Labels, Record
from naksha.domain.insight.series_state import SeriesState
from naksha.models.common import parse_duration
from naksha.models.insightstream import Detector, EwmaParams, PredictiveParams

DEFAULT_MAX_SERIES = 10_000
# The statistical methods keep an incident open until the series has been normal for a while (an
# incident of a noisy series flaps); a fixed bound is crisp, so its incident ends at once.
DEFAULT_COOLDOWN_SAMPLES = {"ewma": 150, "predictive": 200, "threshold": 1, "rate": 1}
# An incident that is still open this many samples after its anomaly re-arms (0: never): a noisy
# series can hold one open for long, and a second incident that starts meanwhile would be hidden.
DEFAULT_REARM_SAMPLES = {"ewma": 0, "predictive": 400, "threshold": 0, "rate": 0}


@dataclass(frozen=True, slots=True)
class Anomaly:
    detector: str
    method: str
    metric: str
    labels: Labels
    value: float
    score: float
    started_at: float  # timestamp of the first anomalous sample of the incident
    detected_at: float  # timestamp of the sample that raised it (the same, for all methods here)
    window: float  # seconds of history behind the decision (the rate window; 0 for the others)

    @property
    def series(self) -> tuple[str, Labels]:
        return (self.metric, self.labels)

    def summary(self) -> dict[str, Any]:
        """The anomaly as reported in status and carried by the AgentRun's signal."""
        return {
            "detector": self.detector,
            "method": self.method,
            "metric": self.metric,
            "series": dict(self.labels),
            "value": self.value,
            "score": round(self.score, 6),
            "startedAt": _rfc3339(self.started_at),
            "detectedAt": _rfc3339(self.detected_at),
        }


class DetectorRunner:
    """One spec detector: matching, scoring and the incident state of each of its series."""

    def __init__(self, detector: Detector, max_series: int = DEFAULT_MAX_SERIES) -> None:
        self.name = detector.name
        self.metric = detector.metric
        self.method = detector.method
        self.required_labels = tuple(sorted(detector.labels.items()))
        self.min_samples = detector.min_samples
        self.cooldown = parse_duration(detector.cooldown)
        self.cooldown_samples = detector.cooldown_samples or DEFAULT_COOLDOWN_SAMPLES[detector.method]
        rearm = detector.rearm_samples
        self.rearm_samples = DEFAULT_REARM_SAMPLES[detector.method] if rearm is None else rearm
        self.max_series = max_series
        params = detector.params
        self.above = params.threshold.above if params.threshold else None
        self.below = params.threshold.below if params.threshold else None
        ewma = params.ewma or EwmaParams()
        self.ewma = EwmaSettings(
            alpha=ewma.alpha,
            zscore=ewma.zscore,
            min_relative_spread=ewma.min_relative_spread,
            min_spread=ewma.min_spread,
            anomalous_weight=ewma.anomalous_weight,
            rebaseline_samples=ewma.rebaseline_samples,
            min_samples=detector.min_samples,
            short_samples=ewma.short_samples,
            shift_share=ewma.shift_share,
        )
        predictive = params.predictive or PredictiveParams()
        self.predictive = PredictiveSettings(
            alpha=predictive.alpha,
            threshold=predictive.threshold,
            short_samples=predictive.short_samples,
            history_samples=predictive.history_samples,
            learn_samples=max(predictive.learn_samples, detector.min_samples),
            drift_alpha=predictive.drift_alpha,
            drift_samples=predictive.drift_samples,
            range_margin=predictive.range_margin,
        )
        self.novelty_rearm_samples = predictive.novelty_rearm_samples
        self.max_rate = params.rate.max_change_per_second if params.rate else math.inf
        self.rate_window = parse_duration(params.rate.window) if params.rate else 0.0
        self.series: OrderedDict[Labels, SeriesState] = OrderedDict()
        # Series judged with settings of their own (a tuned model's per-series parameters, same
        # method): each value is a runner used only for its settings, never for state.
        self.overrides: dict[Labels, DetectorRunner] = {}
        self.evicted = 0
        self.peak = 0.0  # highest score since the bank last took the peaks
        self.last_peak = 0.0  # the peak the bank took last
        self.shard = ""  # the shard of the records being observed (set by the bank)

    @property
    def fingerprint(self) -> str:
        """What saved state depends on: state saved under another method, metric or filter is not reused."""
        labels = ",".join(f"{k}={v}" for k, v in self.required_labels)
        return f"{self.method}|{self.metric}|{labels}"

    def matches(self, record: Record) -> bool:
        if record.metric != self.metric:
            return False
        if not self.required_labels:
            return True
        labels = dict(record.labels)
        return all(labels.get(key) == value for key, value in self.required_labels)

    def observe(self, record: Record) -> Anomaly | None:
        ts = record.ts
        if not (math.isfinite(record.value) and math.isfinite(ts)):
            return None  # the parser refuses these; a detector must not be poisoned by one anyway
        state = self._state(record.labels)
        state.shard = self.shard
        settings = self.overrides.get(record.labels, self) if self.overrides else self
        score, anomalous = settings._score(state, record)
        state.count += 1
        # Samples since the series last left its range (0: it does not now): a climb that keeps
        # leaving it is the incident going on, a series that leaves it again after a while is news.
        news_gap = 0
        if state.novel:
            news_gap, state.last_novel = state.count - state.last_novel, state.count
        if score > self.peak:
            self.peak = score
        if not anomalous:
            if state.in_incident:
                state.quiet += 1
                if (
                    state.quiet >= settings.cooldown_samples
                    and ts - state.last_anomalous >= settings.cooldown
                ):
                    state.in_incident = False
                    state.incident_samples = 0
            return None
        state.last_anomalous = ts
        state.quiet = 0
        if state.in_incident:
            state.incident_samples += 1
            since = state.count - state.raised_at
            # A value the series has not reached in thousands of samples, after half as many
            # samples within its range, is a new event rather than the open incident going on: it
            # is raised once the incident's anomaly is a little old.
            rearm = settings.novelty_rearm_samples
            news = rearm and since >= rearm and news_gap >= rearm // 2
            if not news and (not settings.rearm_samples or since < settings.rearm_samples):
                return None
        state.in_incident = True
        state.incident_samples = 1
        state.raised_at = state.count
        return Anomaly(
            detector=self.name,
            method=self.method,
            metric=record.metric,
            labels=record.labels,
            value=record.value,
            score=score,
            started_at=ts,
            detected_at=ts,
            window=settings._window(),
        )

    def take_peak(self) -> float:
        """The highest score since the last call (what the score gauge shows per batch)."""
        self.last_peak, self.peak = self.peak, 0.0
        return self.last_peak

    def _state(self, labels: Labels) -> SeriesState:
        state = self.series.get(labels)
        if state is None:
            state = self.series[labels] = SeriesState()
            if len(self.series) > self.max_series:
                self.series.popitem(last=False)
                self.evicted += 1
        else:
            self.series.move_to_end(labels)
        return state

    def states(self, shards: Collection[str]) -> Iterator[tuple[Labels, SeriesState]]:
        """The series whose last record came from one of ``shards``."""
        return ((labels, s) for labels, s in self.series.items() if s.shard in shards)

    def restore(self, labels: Labels, state: SeriesState) -> None:
        """Take a saved state back. A series this worker already tracks keeps whichever state has
        seen more samples (warm-up progress is what a restart must not lose)."""
        current = self.series.get(labels)
        if current is not None and current.count >= state.count:
            return
        self.series[labels] = state
        if len(self.series) > self.max_series:
            self.series.popitem(last=False)
            self.evicted += 1

    def forget(self, shards: Collection[str]) -> None:
        """Drop the series of shards handed to another worker."""
        for labels in [labels for labels, s in self.series.items() if s.shard in shards]:
            del self.series[labels]

    def _score(self, state: SeriesState, record: Record) -> tuple[float, bool]:
        method = self.method
        if method == "predictive":
            return predictive_score(state, record.ts, record.value, self.predictive)
        if method == "ewma":
            return ewma_score(state, record.value, self.ewma)
        warm = state.count >= self.min_samples
        if method == "threshold":
            score, anomalous = threshold_score(self.above, self.below, record.value)
        else:
            score, anomalous = rate_score(state, record.ts, record.value, self.max_rate, self.rate_window)
        return score, warm and anomalous

    def _window(self) -> float:
        return self.rate_window if self.method == "rate" else 0.0


class DetectorBank:
    """All detectors of a stream; ``observe`` returns the anomalies one record raised."""

    def __init__(self, detectors: list[Detector], *, max_series: int = DEFAULT_MAX_SERIES) -> None:
        self.runners = [DetectorRunner(d, max_series) for d in detectors]
        self._by_metric: dict[str, list[DetectorRunner]] = {}
        for runner in self.runners:
            self._by_metric.setdefault(runner.metric, []).append(runner)

    def set_shard(self, shard: str) -> None:
        """Name the shard the next records come from (their series' state will say so)."""
        for runner in self.runners:
            runner.shard = shard

    def observe(self, record: Record) -> list[Anomaly]:
        runners = self._by_metric.get(record.metric)
        if not runners:
            return []
        found = []
        for runner in runners:
            if runner.matches(record):
                anomaly = runner.observe(record)
                if anomaly is not None:
                    found.append(anomaly)
        return found

    @property
    def evicted(self) -> int:
        return sum(runner.evicted for runner in self.runners)

    def take_peaks(self) -> dict[str, float]:
        """Per detector, the highest score since the last call."""
        return {runner.name: runner.take_peak() for runner in self.runners}

    def live_state(self) -> dict[str, dict[str, int | float]]:
        """Per detector, how many series are in an incident now (0: the detector has recovered) and
        the highest score of the last batch."""
        return {
            runner.name: {
                "active": sum(1 for state in runner.series.values() if state.in_incident),
                "score": round(runner.last_peak, 6),
            }
            for runner in self.runners
        }


def _rfc3339(ts: float) -> str:
    return (
        datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
