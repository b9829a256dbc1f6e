"""How each detector method scores one sample of a series, in constant time and memory.

Every function takes the series' ``SeriesState``, the sample and the detector's parameters, and
returns ``(score, anomalous)``. The score is continuous in [0, 1] for every method, so a status
page, a Prometheus gauge or a learner can compare any two detectors; the fixed-bound methods
(``threshold``, ``ewma``, ``rate``) squash the ratio ``x`` of their statistic to its bound as
``x² / (1 + x²)``, which is 0.5 exactly at the bound and anomalous past it. The ``predictive``
method scores with an anomaly likelihood (``insight.predictive``).

A state whose numbers overflow (a value near the float limit) is learnt again from scratch
rather than left to turn into NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from naksha.domain.insight.series_state import SeriesState

MIN_RATE_INTERVAL = 0.001


def squash(ratio: float) -> float:
    """``ratio`` of a statistic to its bound, as a score in [0, 1] that is 0.5 at the bound."""
    square = ratio * ratio
    return square / (1.0 + square) if square < 1e300 else 1.0  # NaN and overflow are "far past"


@dataclass(frozen=True, slots=True)
class EwmaSettings:
    alpha: float
    zscore: float
    min_relative_spread: float
    min_spread: float
    anomalous_weight: float
    rebaseline_samples: int
    min_samples: int
    short_samples: int = 1
    shift_share: float = 0.0
    # Worked out once from the two above (a sample's scoring stays a few float operations).
    short_rate: float = field(init=False)
    shift_unit: float = field(init=False)

    def __post_init__(self) -> None:
        rate = 2.0 / (self.short_samples + 1)
        # The recent mean's standard deviation is sqrt(rate / (2 - rate)) of the samples' own;
        # the chart's bound is shift_share of zscore of those.
        unit = math.sqrt(rate / (2.0 - rate)) * self.shift_share * self.zscore
        object.__setattr__(self, "short_rate", rate)
        object.__setattr__(self, "shift_unit", unit)


def threshold_score(above: float | None, below: float | None, value: float) -> tuple[float, bool]:
    """Distance past the nearer bound relative to the bound's size (1 when a bound is 0)."""
    ratio = 0.0
    if above is not None:
        ratio = max(ratio, 1.0 + (value - above) / (abs(above) or 1.0))
    if below is not None:
        ratio = max(ratio, 1.0 + (below - value) / (abs(below) or 1.0))
    return squash(ratio), ratio > 1.0


def rate_score(
    state: SeriesState, ts: float, value: float, max_rate: float, window: float
) -> tuple[float, bool]:
    previous_ts, previous_value = state.last_ts, state.last_value
    if previous_ts is not None and ts - previous_ts < MIN_RATE_INTERVAL:
        return 0.0, False  # out of order or simultaneous: no rate to speak of
    state.last_ts, state.last_value = ts, value
    if previous_ts is None or ts - previous_ts > window:
        return 0.0, False
    ratio = abs(value - previous_value) / (ts - previous_ts) / max_rate
    return squash(ratio), ratio > 1.0


def ewma_score(state: SeriesState, value: float, settings: EwmaSettings) -> tuple[float, bool]:
    """z-score against an EWMA baseline whose spread never falls to zero and which keeps learning.

    During warm-up the plain running mean and variance (Welford) of the first samples seed the
    baseline. After it, an anomalous sample still teaches the baseline, clipped to the ``zscore``
    bound and at ``anomalous_weight`` of the rate, so a lasting change is learnt in bounded time
    while a spike barely moves it; an incident longer than ``rebaseline_samples`` restarts the
    warm-up on the new level (the runner counts the incident's samples). Besides the sample's own
    z-score, the exponential mean of the last ``short_samples`` is judged against the baseline in
    units of its own standard deviation (an EWMA control chart) with the bound ``shift_share`` of
    ``zscore``: a shift that no single sample gives away. (The bound follows ``zscore``, so a
    tuner that widens ``zscore`` widens both.)
    """
    if state.learned < settings.min_samples:
        n = state.learned + 1
        delta = value - state.mean
        state.mean += delta / n
        state.variance += (delta * (value - state.mean) - state.variance) / n
        state.learned = n
        state.short_mean = state.mean
        _reset_if_overflowed(state)
        return 0.0, False
    spread = max(
        math.sqrt(state.variance), settings.min_relative_spread * abs(state.mean), settings.min_spread
    )
    deviation = value - state.mean
    ratio = abs(deviation) / spread / settings.zscore
    if settings.shift_share > 0:
        # The control chart of the recent mean: a shift of a few samples that no one of them gives
        # away. A state saved before it existed starts it here.
        short = state.short_mean
        short = value if short is None else short + settings.short_rate * (value - short)
        state.short_mean = short
        shift = abs(short - state.mean) / (spread * settings.shift_unit)
        if shift > ratio:
            ratio = shift
    anomalous = ratio > 1.0
    rate = settings.alpha
    if anomalous:
        if state.incident_samples >= settings.rebaseline_samples:
            state.learned, state.mean, state.variance = 0, 0.0, 0.0
            return squash(ratio), True
        bound = settings.zscore * spread
        deviation = bound if deviation > 0 else -bound
        rate *= settings.anomalous_weight
    increment = rate * deviation
    state.mean += increment
    state.variance = (1 - rate) * (state.variance + deviation * increment)
    _reset_if_overflowed(state)
    return squash(ratio), anomalous


def _reset_if_overflowed(state: SeriesState) -> None:
    short = state.short_mean
    if not (
        math.isfinite(state.mean)
        and math.isfinite(state.variance)
        and (short is None or math.isfinite(short))
    ):
        state.learned, state.mean, state.variance, state.short_mean = 0, 0.0, 0.0, None
