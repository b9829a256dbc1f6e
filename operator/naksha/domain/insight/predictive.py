"""The ``predictive`` method: predict the next value, score the surprise, alert on its likelihood.

Three steps per sample, each a few float operations on the series' state (constant memory):

1. **Prediction.** The next value is predicted by an exponentially smoothed level (factor
   ``alpha``). The prediction error is measured in units of the series' typical error: the larger
   of a long-run mean absolute error and the mean absolute error usually seen at this hour of the
   day (24 buckets by the records' UTC timestamps), so a daily cycle or a nightly batch that
   recurs is a known surprise, not an anomaly. Floors (relative to the level, and absolute) keep a
   flat series from dividing by zero.
2. **Raw score.** The error ratio, capped so one absurd sample cannot blind the detector, is
   averaged over the last ``short_samples`` (exponentially).
3. **Anomaly likelihood.** That recent average is compared with its own distribution over the
   last ``history_samples`` (exponentially weighted mean and variance, with a floor): the tail
   probability of a Gaussian says how unusual the recent surprise is *for this series*, which is
   what makes one threshold work for series of any scale and noise. The score is
   ``log(tail) / log(1e-10)`` clipped to [0, 1] (0.5 is a one-in-10⁵ surprise).

The detector learns from every sample, anomalous or not, so a new level becomes the prediction
within a few samples and stops being surprising once its errors are typical again: a level shift
is one incident of bounded length. Nothing alerts before ``learn_samples`` samples.

The idea of scoring a predictor's error and then judging the score by its own recent
distribution follows the anomaly likelihood described with the Numenta Anomaly Benchmark
(Ahmad, Lavin, Purdy, Agha, 2017); the predictor here is deliberately simple so it costs a few
microseconds per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from naksha.domain.insight.detectors import SeriesState

HOURS = 24
RAW_CAP = 12.0  # error ratio past which a sample says nothing more (a spike of 1e300 is "large")
RELATIVE_FLOOR = 1e-3  # typical error at least this fraction of the level
ABSOLUTE_FLOOR = 1e-9
SPREAD_FLOOR = 0.05  # standard deviation of the recent error ratio, in units of typical error
HOUR_RATE = 0.1  # each hour of the day is visited once a day: learn it faster than the long run
HOUR_DECAY = 0.01
LOG_TAIL_FLOOR = math.log(1e-10)
SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True, slots=True)
class PredictiveSettings:
    alpha: float
    threshold: float
    short_samples: int
    history_samples: int
    learn_samples: int

    @property
    def short_rate(self) -> float:
        return 2.0 / (self.short_samples + 1)

    @property
    def history_rate(self) -> float:
        return 2.0 / (self.history_samples + 1)


def predictive_score(
    state: SeriesState, ts: float, value: float, settings: PredictiveSettings
) -> tuple[float, bool]:
    if state.learned == 0 or not math.isfinite(state.level):
        state.level, state.scale, state.recent = value, 0.0, 0.0
        state.mean, state.variance = 0.0, 0.0
        state.season = [0.0] * HOURS
        state.learned = 1
        return 0.0, False
    was_warm = state.learned > settings.learn_samples
    level = state.level
    error = abs(value - level)
    hour = int(ts // 3600.0) % HOURS if math.isfinite(ts) else 0
    season = state.season
    typical = max(state.scale, season[hour], RELATIVE_FLOOR * abs(level), ABSOLUTE_FLOOR)
    ratio = error / typical
    if not ratio < RAW_CAP:  # also catches NaN from an overflowing error
        ratio = RAW_CAP
    taught = min(error, RAW_CAP * typical)
    short_rate = settings.short_rate
    recent = state.recent + short_rate * (ratio - state.recent)
    mean, variance = state.mean, state.variance
    spread = math.sqrt(variance) if variance > SPREAD_FLOOR * SPREAD_FLOOR else SPREAD_FLOOR
    z = (recent - mean) / spread
    score = 0.0
    if z > 0:
        tail = 0.5 * math.erfc(z / SQRT2)
        score = 1.0 if tail <= 0 else min(1.0, math.log(tail) / LOG_TAIL_FLOOR)
    # Learn from this sample, anomalous or not.
    # While few samples are in, their plain average (a rate of 1/n) is the unbiased estimate; the
    # exponential rate takes over once the history is longer than its window.
    history_rate = max(settings.history_rate, 1.0 / state.learned)
    delta = recent - mean
    increment = history_rate * delta
    state.mean = mean + increment
    state.variance = (1 - history_rate) * (variance + delta * increment)
    state.recent = recent
    state.level = level + settings.alpha * (value - level)
    state.scale += history_rate * (taught - state.scale)
    # An hour remembers its surprises (quick to rise, slow to forget), so what recurs daily is known.
    typical_here = season[hour]
    season[hour] = typical_here + (HOUR_RATE if taught > typical_here else HOUR_DECAY) * (
        taught - typical_here
    )
    state.learned += 1
    if not (math.isfinite(state.level) and math.isfinite(state.scale) and math.isfinite(season[hour])):
        state.learned = 0  # a value near the float limit: start over rather than carry inf/NaN
        return 1.0, was_warm
    warm = state.learned > settings.learn_samples
    return score, warm and score >= settings.threshold
