"""The ``predictive`` method: predict the next value, score the surprise, alert on its likelihood.

Three predictors watch each series, each with the four steps below, and a novelty check beside
them; the sample's score is the largest of their scores:

- a **fast** one (the level follows the series closely, ``alpha`` 0.9, recent error over
  ``short_samples`` 4) is surprised by sudden changes and spikes;
- a **drift** one (``drift_alpha`` 0.05, recent error over ``drift_samples`` 20, no daily buckets)
  is surprised when the series wanders away from where it has been for a while: a slow climb, a
  level shift too small to be a sudden change;
- a **daily** one predicts the value usual at this time of day (the usual value at the middle of
  each of the 24 hours, a straight line between two; recent error over ``drift_samples``; trusted
  after two days) and is surprised when the day's shape changes: a cycle that stops, a peak that
  comes at the wrong hour;
- the **novelty** check knows the range the series has lived in (its highest and lowest values,
  each relaxing towards the middle by ``VALUE_RANGE_RELAX`` per sample, and the same for its
  smoothed level, ``LEVEL_ALPHA``, relaxing by ``LEVEL_RANGE_RELAX``) and scores 1 when the value
  or the level leaves that range by more than ``range_margin`` (4 %) of it (the value also by
  more than ``NOISE_MARGIN`` times the typical prediction error): a value the series
  has not reached for thousands of samples is news however noisy the series is, which the error
  predictors, judging a surprise against the series' usual surprises, can miss in a heavy-tailed
  series. It speaks only after ``learn_samples`` and two days (``NOVELTY_READY_SECONDS``), once the
  range has seen a day's cycle twice, and reports ``novel`` so the runner can raise a new anomaly
  for it even while an older incident is open (``novelty_rearm_samples``).

Per sample and predictor, a few float operations on the series' state (constant memory):

1. **Prediction.** The next value is predicted (the fast and drift predictors: an exponentially
   smoothed level). The prediction error is measured in units of the series' typical error: the
   larger of a long-run mean absolute error and (fast and daily predictors) the mean absolute
   error usually seen at this hour of the day (24 buckets by the records' UTC timestamps), so a
   daily cycle or a nightly batch that recurs is a known surprise, not an anomaly. Floors
   (relative to the level, and absolute) keep a flat series from dividing by zero.
2. **Raw score.** The error ratio, capped so one absurd sample cannot blind the detector, is
   averaged over the last ``short_samples`` (``drift_samples``; exponentially).
3. **Anomaly likelihood.** That recent average is compared with its own distribution over the
   last ``history_samples`` (exponentially weighted mean and variance, with a floor): the tail
   probability of a Gaussian says how unusual the recent surprise is *for this series*, which is
   what makes one threshold work for series of any scale and noise. The score is
   ``log(tail) / log(1e-10)`` clipped to [0, 1] (0.5 is a one-in-10⁵ surprise).
4. **Against the record.** Each predictor remembers its record, the largest recent average it has
   had (relaxing towards zero by ``RECORD_RELAX`` per sample, set only once it has learnt
   ``RECORD_AFTER_SAMPLES``); a surprise below ``FAST_RECORD_SHARE`` (the fast predictor) or
   ``SLOW_RECORD_SHARE`` (the drift and daily ones) of it weighs ``BELOW_RECORD_WEIGHT``. The
   Gaussian tail understates how often a heavy-tailed series bursts: judged against its record,
   a series that bursts every few days alarms for a burst near its largest, not for each one.
   Both a spike and its return to normal count in the fast predictor's recent average, so a
   spike that only equals the record is raised with its return, a sample later.

On NAB v1 (``benchmarks/detectors.py``, standard profile, default alerts) the fast predictor alone
scores 48.9, with the drift predictor 56.4, with the daily one too 58.1, with the runner
re-arming incidents still open 400 samples after their anomaly (``rearmSamples``) 60.3, with
the novelty check (and its re-arm) 68.7, and with the records (and the threshold 0.6 → 0.58)
70.5. The hourly error buckets help the fast predictor (without them: 45) but hurt the drift one
(with them: 51), so it has none.

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
    from naksha.domain.insight.series_state import SeriesState

HOURS = 24
RAW_CAP = 12.0  # error ratio past which a sample says nothing more (a spike of 1e300 is "large")
RELATIVE_FLOOR = 1e-3  # typical error at least this fraction of the level
ABSOLUTE_FLOOR = 1e-9
SPREAD_FLOOR = 0.05  # standard deviation of the recent error ratio, in units of typical error
HOUR_RATE = 0.1  # each hour of the day is visited once a day: learn it faster than the long run
HOUR_DECAY = 0.01
LOG_TAIL_FLOOR = math.log(1e-10)
SQRT2 = math.sqrt(2.0)
DRIFT_FIELDS = 6  # the drift predictor's level, typical error, recent error, its mean and variance, samples
# The daily predictor: the usual value and the visits of each hour, the time of its first sample,
# then as the drift predictor's.
DAILY_FIELDS = 2 * HOURS + 6
DAILY_RATE = 0.05  # an hour's usual value moves this share towards each new visit
DAILY_READY = 3  # visits before an hour's usual value is trusted
DAILY_READY_SECONDS = 2 * 86_400.0  # and not before two days (an hour seen only in part is not known)
# The novelty check: the value's range, the smoothed level and its range, the first sample's time.
NOVELTY_FIELDS = 6
VALUE_RANGE_RELAX = 1e-4  # per sample: a bound not reached again halves its excess in ~7,000 samples
LEVEL_ALPHA = 0.1
LEVEL_RANGE_RELAX = 1e-5  # the level's bounds relax ten times slower: a level is slow news
NOVELTY_READY_SECONDS = 2 * 86_400.0
# A value must also leave its range by this many typical prediction errors: a noisy series' own
# records are not news.
NOISE_MARGIN = 2.0
# The record: the largest recent error each predictor (fast, drift, daily) has had, relaxing
# towards zero (a record not reached again halves in ~70,000 samples). A surprise below a share of
# its predictor's record weighs a quarter (at most 0.25, below the default threshold): a series that
# bursts every day is judged against its bursts, and only one at least near the largest is news.
RECORD_FIELDS = 3
RECORD_RELAX = 1e-5
RECORD_AFTER_SAMPLES = 500  # the surprises of a predictor still learning its errors set no record
FAST_RECORD_SHARE = 0.8  # the fast predictor's spikes: within 80 % of its record
SLOW_RECORD_SHARE = 0.6  # the drift and daily predictors', averaged over more samples: 60 %
BELOW_RECORD_WEIGHT = 0.25


@dataclass(frozen=True, slots=True)
class PredictiveSettings:
    alpha: float
    threshold: float
    short_samples: int
    history_samples: int
    learn_samples: int
    drift_alpha: float
    drift_samples: int
    range_margin: float

    @property
    def short_rate(self) -> float:
        return 2.0 / (self.short_samples + 1)

    @property
    def drift_rate(self) -> float:
        return 2.0 / (self.drift_samples + 1)

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
        state.drift = [value, 0.0, 0.0, 0.0, 0.0, 1.0]
        state.daily = _new_daily(ts)
        state.novelty = _new_novelty(ts, value)
        state.records = [0.0] * RECORD_FIELDS
        state.novel = False
        state.learned = 1
        return 0.0, False
    # A state saved before the drift or daily predictor existed: each learns, silent, from here.
    if len(state.drift) != DRIFT_FIELDS:
        state.drift = [state.level, 0.0, 0.0, 0.0, 0.0, 1.0]
    if len(state.daily) != DAILY_FIELDS:
        state.daily = _new_daily(ts)
    if len(state.novelty) != NOVELTY_FIELDS:
        state.novelty = _new_novelty(ts, value)
    if len(state.records) != RECORD_FIELDS:
        state.records = [0.0] * RECORD_FIELDS
    records = state.records
    was_warm = state.learned > settings.learn_samples
    # While few samples are in, their plain average (a rate of 1/n) is the unbiased estimate of the
    # error distribution; the exponential rate takes over once the history is longer than its window.
    history_rate = max(settings.history_rate, 1.0 / state.learned)
    level = state.level
    error = abs(value - level)
    hour = int(ts // 3600.0) % HOURS if math.isfinite(ts) else 0
    season = state.season
    typical = max(state.scale, season[hour], RELATIVE_FLOOR * abs(level), ABSOLUTE_FLOOR)
    ratio = error / typical
    if not ratio < RAW_CAP:  # also catches NaN from an overflowing error
        ratio = RAW_CAP
    taught = min(error, RAW_CAP * typical)
    recent = state.recent + settings.short_rate * (ratio - state.recent)
    score = _likelihood(recent, state.mean, state.variance)
    score = _against_record(records, 0, FAST_RECORD_SHARE, recent, score, state.learned)
    state.mean, state.variance = _learn(recent, state.mean, state.variance, history_rate)
    state.recent = recent
    state.level = level + settings.alpha * (value - level)
    state.scale += history_rate * (taught - state.scale)
    # An hour remembers its surprises (quick to rise, slow to forget), so what recurs daily is known.
    typical_here = season[hour]
    season[hour] = typical_here + (HOUR_RATE if taught > typical_here else HOUR_DECAY) * (
        taught - typical_here
    )
    drift_score = _drift(state.drift, records, value, settings)
    daily_score = _daily(state.daily, records, ts, value, typical_here, settings)
    noise = NOISE_MARGIN * state.scale
    novel = _novel(state.novelty, ts, value, settings.range_margin, noise, ready=was_warm)
    score = 1.0 if novel else max(score, drift_score, daily_score)
    state.learned += 1
    if not (
        math.isfinite(state.level)
        and math.isfinite(state.scale)
        and math.isfinite(season[hour])
        # A sum is NaN or infinite when a term is (or when the terms are near the float limit).
        and math.isfinite(sum(state.drift))
        and math.isfinite(sum(state.daily))
        and math.isfinite(sum(state.novelty))
        and math.isfinite(sum(records))
    ):
        # A value near the float limit: start over rather than carry inf/NaN (nor save it).
        state.learned, state.level, state.scale, state.recent = 0, 0.0, 0.0, 0.0
        state.mean, state.variance, state.season, state.drift, state.daily = 0.0, 0.0, [], [], []
        state.novelty, state.records, state.novel = [], [], False
        return 1.0, was_warm
    state.novel = novel
    warm = state.learned > settings.learn_samples
    return score, warm and (novel or score >= settings.threshold)


def _drift(drift: list[float], records: list[float], value: float, settings: PredictiveSettings) -> float:
    """The drift predictor's score for ``value``, learning it (``drift`` is updated in place).

    It counts its own samples, so one that starts late (a state restored from a version without
    it) learns its error distribution before it may score, as the series' first samples do."""
    level, scale, recent, mean, variance, learned = drift
    history_rate = max(settings.history_rate, 1.0 / learned)
    error = abs(value - level)
    typical = max(scale, RELATIVE_FLOOR * abs(level), ABSOLUTE_FLOOR)
    ratio = error / typical
    if not ratio < RAW_CAP:
        ratio = RAW_CAP
    recent += settings.drift_rate * (ratio - recent)
    score = _likelihood(recent, mean, variance) if learned > settings.learn_samples else 0.0
    score = _against_record(records, 1, SLOW_RECORD_SHARE, recent, score, learned)
    mean, variance = _learn(recent, mean, variance, history_rate)
    scale += history_rate * (min(error, RAW_CAP * typical) - scale)
    drift[:] = (level + settings.drift_alpha * (value - level), scale, recent, mean, variance, learned + 1)
    return score


def _new_daily(ts: float) -> list[float]:
    daily = [0.0] * DAILY_FIELDS
    daily[2 * HOURS] = ts
    return daily


def _daily(
    daily: list[float],
    records: list[float],
    ts: float,
    value: float,
    usual_error: float,
    settings: PredictiveSettings,
) -> float:
    """The daily predictor's score for ``value``, learning it (``daily`` is updated in place).

    ``daily[h]`` is the value usual at the middle of hour ``h`` of the day; the prediction between
    two middles is the straight line between them (so a smooth cycle is followed within the hour),
    and each sample's error moves the two by their share of it (a running mean over their first
    visits, then ``DAILY_RATE`` per visit). A stretch scores only once both its hours have been
    visited ``DAILY_READY`` times (``daily[HOURS + h]``, counted in shares) and the series has been
    watched for ``DAILY_READY_SECONDS`` (since ``daily[2 * HOURS]``). The error is measured against
    the larger of the predictor's own typical error and ``usual_error``, the fast predictor's
    typical error at this hour, so a batch shorter than an hour that recurs nightly is known here
    too."""
    position = (ts / 3600.0 - 0.5) % HOURS
    low = int(position) % HOURS
    high = (low + 1) % HOURS
    share = position - int(position)  # of the way from the middle of ``low`` to that of ``high``
    visits_low, visits_high = daily[HOURS + low], daily[HOURS + high]
    if visits_low == 0:
        daily[low] = value
    if visits_high == 0:
        daily[high] = value
    usual = (1.0 - share) * daily[low] + share * daily[high]
    miss = value - usual
    daily[low] += max(DAILY_RATE, 1.0 / (visits_low + 1)) * (1.0 - share) * miss
    daily[high] += max(DAILY_RATE, 1.0 / (visits_high + 1)) * share * miss
    daily[HOURS + low] = visits_low + 1.0 - share
    daily[HOURS + high] = visits_high + share
    first_ts, scale, recent, mean, variance, learned = daily[2 * HOURS :]
    learned += 1
    history_rate = max(settings.history_rate, 1.0 / learned)
    error = abs(miss)
    typical = max(scale, usual_error, RELATIVE_FLOOR * abs(usual), ABSOLUTE_FLOOR)
    ratio = error / typical
    if not ratio < RAW_CAP:
        ratio = RAW_CAP
    recent += settings.drift_rate * (ratio - recent)
    ready = (
        min(visits_low, visits_high) >= DAILY_READY
        and learned > settings.learn_samples
        and ts - first_ts >= DAILY_READY_SECONDS
    )
    score = _likelihood(recent, mean, variance) if ready else 0.0
    score = _against_record(records, 2, SLOW_RECORD_SHARE, recent, score, learned)
    mean, variance = _learn(recent, mean, variance, history_rate)
    scale += history_rate * (min(error, RAW_CAP * typical) - scale)
    daily[2 * HOURS :] = (first_ts, scale, recent, mean, variance, learned)
    return score


def _new_novelty(ts: float, value: float) -> list[float]:
    return [value, value, value, value, value, ts]


def _novel(
    novelty: list[float], ts: float, value: float, margin: float, noise: float, *, ready: bool
) -> bool:
    """Whether ``value`` leaves the range the series has lived in by more than ``margin`` of that
    range and more than ``noise``, or the level it moves the series to leaves the level's range
    by more than ``margin`` of it; learns both ranges (``novelty`` in place). A steady climb
    raises the bounds as it goes, so only its first step out of the range is news.

    A flat series has no range (nothing can leave it by a share of nothing); it gains one with its
    first different value, so it is the error predictors that judge a flat series turning noisy.
    """
    high, low, level, level_high, level_low, first_ts = novelty
    level += LEVEL_ALPHA * (value - level)
    novel = False
    if ready and ts - first_ts >= NOVELTY_READY_SECONDS:
        spread, level_spread = high - low, level_high - level_low
        beyond = max(margin * spread, noise)
        level_beyond = margin * level_spread
        novel = (spread > 0 and (value > high + beyond or value < low - beyond)) or (
            level_spread > 0 and (level > level_high + level_beyond or level < level_low - level_beyond)
        )
    high, low = _stretched(high, low, value, VALUE_RANGE_RELAX)
    level_high, level_low = _stretched(level_high, level_low, level, LEVEL_RANGE_RELAX)
    novelty[:] = (high, low, level, level_high, level_low, first_ts)
    return novel


def _stretched(high: float, low: float, x: float, relax: float) -> tuple[float, float]:
    """The range ``low``..``high`` stretched to hold ``x``, then each bound relaxed towards the
    middle by ``relax`` of its distance to it."""
    high, low = max(high, x), min(low, x)
    shrink = relax * 0.5 * (high - low)
    return high - shrink, low + shrink


def _against_record(
    records: list[float], index: int, share: float, recent: float, score: float, learned: float
) -> float:
    """``score`` weighed against the record of predictor ``index`` (0 fast, 1 drift, 2 daily):
    a quarter of it when ``recent`` is below ``share`` of its record. Learns the record
    (``records`` in place) once the predictor has learnt ``RECORD_AFTER_SAMPLES``."""
    record = records[index]
    if recent < share * record:
        score *= BELOW_RECORD_WEIGHT
    if learned > RECORD_AFTER_SAMPLES:
        records[index] = max(record * (1.0 - RECORD_RELAX), recent)
    return score


def _likelihood(recent: float, mean: float, variance: float) -> float:
    """How unusual ``recent`` is against its distribution, as ``log(tail) / log(1e-10)`` in [0, 1]."""
    spread = math.sqrt(variance) if variance > SPREAD_FLOOR * SPREAD_FLOOR else SPREAD_FLOOR
    z = (recent - mean) / spread
    if not z > 0:
        return 0.0
    tail = 0.5 * math.erfc(z / SQRT2)
    return 1.0 if tail <= 0 else min(1.0, math.log(tail) / LOG_TAIL_FLOOR)


def _learn(recent: float, mean: float, variance: float, rate: float) -> tuple[float, float]:
    """The exponentially weighted mean and variance of the recent error, after ``recent``."""
    delta = recent - mean
    increment = rate * delta
    return mean + increment, (1 - rate) * (variance + delta * increment)
