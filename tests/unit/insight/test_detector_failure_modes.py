"""The ways a statistical detector goes wrong on real series, each checked with the defaults a user
gets from ``method: ewma`` or ``method: predictive`` and no params: one incident is one anomaly,
and the detector is neither deaf nor noisy afterwards."""

from __future__ import annotations

import math
import random

import pytest

from naksha.domain.insight import predictive
from naksha.domain.insight.detectors import DetectorBank
from naksha.domain.insight.records import Record
from naksha.models.insightstream import Detector, PredictiveParams

FIVE_MINUTES = 300.0
DAY = 86_400.0
METHODS = ["ewma", "predictive"]


def bank_with_defaults(method: str) -> DetectorBank:
    return DetectorBank([Detector.model_validate({"name": "d", "metric": "m", "method": method})])


def feed(bank: DetectorBank, values: list[float], *, start: float = 0.0, step: float = FIVE_MINUTES) -> list:
    found = []
    for i, value in enumerate(values):
        found += bank.observe(Record(ts=start + i * step, metric="m", value=value))
    return found


def gauss(n: int, mean: float, sd: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, sd) for _ in range(n)]


@pytest.mark.parametrize("method", METHODS)
def test_a_series_flat_at_zero_that_turns_noisy_is_one_incident_not_a_storm(method):
    bank = bank_with_defaults(method)
    quiet = feed(bank, [0.0] * 600)
    noisy = feed(bank, gauss(3000, 5.0, 1.0, seed=1), start=600 * FIVE_MINUTES)
    assert quiet == []
    assert noisy[0].started_at == 600 * FIVE_MINUTES
    # Gaussian noise past 4 estimated sigmas happens now and then (ewma); what must not happen is
    # the storm of a zero variance that never widens (an alarm on every sample after the first).
    assert len(noisy) <= 4


@pytest.mark.parametrize("method", METHODS)
def test_a_lasting_level_shift_is_one_incident_and_the_new_level_becomes_normal(method):
    bank = bank_with_defaults(method)
    feed(bank, gauss(600, 100.0, 1.0, seed=2))
    shifted = feed(bank, gauss(3000, 150.0, 1.0, seed=3), start=600 * FIVE_MINUTES)
    assert len(shifted) == 1
    state = bank.runners[0].series[()]
    assert not state.in_incident  # the new level is normal again
    # ...and the detector is not deaf there: a spike on the new level is a new incident.
    spike = feed(bank, [250.0], start=3600 * FIVE_MINUTES)
    assert len(spike) == 1


@pytest.mark.parametrize("method", METHODS)
def test_an_incident_sampled_less_often_than_the_cooldown_does_not_alert_in_bursts(method):
    bank = bank_with_defaults(method)  # cooldown 60 s, samples every 5 minutes
    feed(bank, gauss(600, 100.0, 1.0, seed=4))
    rng = random.Random(5)
    # A flapping incident: bad and normal samples interleaved for two hours.
    incident = [180.0 if i % 2 == 0 else 100 + rng.gauss(0, 1) for i in range(24)]
    after = gauss(200, 100.0, 1.0, seed=6)
    assert len(feed(bank, incident + after, start=600 * FIVE_MINUTES)) == 1


@pytest.mark.parametrize("method", METHODS)
def test_a_daily_cycle_is_normal(method):
    bank = bank_with_defaults(method)
    rng = random.Random(8)
    values = [
        100 + 30 * math.sin(2 * math.pi * i * FIVE_MINUTES / DAY) + rng.gauss(0, 2.0) for i in range(288 * 14)
    ]
    assert feed(bank, values) == []


def test_the_predictive_detector_learns_a_nightly_batch_that_recurs_every_day():
    bank = bank_with_defaults("predictive")
    rng = random.Random(9)
    values = []
    for i in range(288 * 21):
        nightly = 60.0 if (i % 288) in range(24, 30) else 0.0  # 02:00-02:30 every night
        values.append(100 + nightly + rng.gauss(0, 2.0))
    anomalies = feed(bank, values)
    # The first nights are surprises; once learnt, the batch is part of the day.
    assert all(a.started_at < 7 * DAY for a in anomalies)


@pytest.mark.parametrize("method", METHODS)
def test_a_spike_in_noise_is_found(method):
    bank = bank_with_defaults(method)
    feed(bank, gauss(1000, 100.0, 1.0, seed=10))
    assert len(feed(bank, [140.0, 141.0, 139.0], start=1000 * FIVE_MINUTES)) == 1


def test_the_predictive_detector_finds_a_slow_climb_that_no_single_step_gives_away():
    bank = bank_with_defaults("predictive")
    noise = gauss(2000, 100.0, 2.0, seed=11)
    assert feed(bank, noise[:1500]) == []
    # A climb of a tenth of the noise per sample: each step is ordinary, the series leaving its level is not.
    climb = [value + 0.2 * i for i, value in enumerate(noise[1500:])]
    anomalies = feed(bank, climb, start=1500 * FIVE_MINUTES)
    assert len(anomalies) == 1
    assert anomalies[0].started_at < (1500 + 200) * FIVE_MINUTES


def test_the_ewma_detector_finds_a_shift_of_a_few_sigmas_that_no_single_sample_gives_away():
    # Noise of sd 1 around 100, then around 106: each sample is within the zscore of 8 sigmas of
    # the baseline, but the mean of the last few is far outside its own spread.
    shifted = [value + 6.0 for value in gauss(40, 100.0, 1.0, seed=21)]
    assert max(abs(value - 100.0) for value in shifted) < 8.0
    bank = bank_with_defaults("ewma")
    assert feed(bank, gauss(600, 100.0, 1.0, seed=20)) == []
    (anomaly,) = feed(bank, shifted, start=600 * FIVE_MINUTES)
    assert anomaly.started_at < 610 * FIVE_MINUTES
    point_only = DetectorBank(
        [
            Detector.model_validate(
                {"name": "d", "metric": "m", "method": "ewma", "params": {"ewma": {"shiftShare": 0}}}
            )
        ]
    )
    feed(point_only, gauss(600, 100.0, 1.0, seed=20))
    assert feed(point_only, shifted, start=600 * FIVE_MINUTES) == []


def test_an_ewma_state_saved_before_the_recent_mean_existed_keeps_scoring_quietly():
    bank = bank_with_defaults("ewma")
    feed(bank, gauss(600, 100.0, 2.0, seed=22))
    (state,) = bank.runners[0].series.values()
    state.short_mean = None  # what a checkpoint written by an earlier version restores
    assert feed(bank, gauss(600, 100.0, 2.0, seed=23), start=600 * FIVE_MINUTES) == []
    assert state.short_mean is not None and abs(state.short_mean - 100.0) < 5.0


def test_a_predictive_state_saved_before_the_drift_and_daily_predictors_existed_keeps_scoring_quietly():
    bank = bank_with_defaults("predictive")
    feed(bank, gauss(600, 100.0, 2.0, seed=12))
    runner = bank.runners[0]
    (state,) = runner.series.values()
    # What a checkpoint written by an earlier version restores.
    state.drift, state.daily, state.novelty, state.records = [], [], [], []
    assert feed(bank, gauss(600, 100.0, 2.0, seed=13), start=600 * FIVE_MINUTES) == []
    assert (len(state.drift), len(state.daily), len(state.novelty), len(state.records)) == (6, 54, 6, 3)


def test_the_predictive_detector_finds_a_daily_cycle_that_stops():
    bank = bank_with_defaults("predictive")
    rng = random.Random(14)
    day = 288
    cycle = [100 + 30 * math.sin(2 * math.pi * i / day) + rng.gauss(0, 2.0) for i in range(day * 10)]
    assert feed(bank, cycle) == []
    # The cycle stops at its mean: no value is out of range and no step is large, the day's shape is gone.
    stopped = [100 + rng.gauss(0, 2.0) for _ in range(day)]
    anomalies = feed(bank, stopped, start=day * 10 * FIVE_MINUTES)
    assert len(anomalies) == 1
    assert anomalies[0].started_at < (day * 10 + day // 2) * FIVE_MINUTES


@pytest.mark.parametrize("start_hour", [0.0, 1.65, 13.1])
def test_a_daily_cycle_sampled_every_minute_is_normal_whatever_the_hour_it_starts_at(start_hour):
    # The first day sees its first hour only in part: that hour must not be taken as known.
    bank = bank_with_defaults("predictive")
    rng = random.Random(15)
    values = [120 + 40 * math.sin(2 * math.pi * i / 1440) + rng.uniform(-6, 6) for i in range(1440 * 4)]
    assert feed(bank, values, start=start_hour * 3600.0, step=60.0) == []


def bursty(n: int, seed: int) -> list[float]:
    """A heavy-tailed series: a quiet base with bursts of every size up to 100, often."""
    rng = random.Random(seed)
    return [10 + rng.gauss(0, 1.0) + (rng.uniform(20, 90) if rng.random() < 0.08 else 0.0) for _ in range(n)]


def test_a_value_beyond_the_range_a_bursty_series_lives_in_is_found_though_bursts_are_usual():
    bank = bank_with_defaults("predictive")
    history = bursty(288 * 3, seed=16)
    feed(bank, history)
    (state,) = bank.runners[0].series.values()
    state.in_incident = False  # whatever the bursts did, the series is quiet now
    anomalies = feed(bank, [10.0, 10.0, 140.0, 10.0], start=len(history) * FIVE_MINUTES)
    assert [a.value for a in anomalies] == [140.0]
    assert anomalies[0].score == 1.0


def test_the_range_is_not_judged_before_two_days_of_samples():
    bank = bank_with_defaults("predictive")
    feed(bank, bursty(288, seed=17))  # one day
    (state,) = bank.runners[0].series.values()
    feed(bank, [140.0], start=288 * FIVE_MINUTES)
    assert state.novel is False


def test_a_second_incident_that_leaves_the_range_is_raised_while_the_first_is_still_open():
    bank = bank_with_defaults("predictive")
    history = gauss(288 * 3, 100.0, 2.0, seed=18)
    feed(bank, history)
    start = len(history) * FIVE_MINUTES
    first = feed(bank, [160.0], start=start)
    assert len(first) == 1
    # The series stays restless (the incident stays open) but within its new range ...
    restless = [100 + 40 * (i % 2) + random.Random(i).gauss(0, 2.0) for i in range(120)]
    assert feed(bank, restless, start=start + FIVE_MINUTES) == []
    (state,) = bank.runners[0].series.values()
    assert state.in_incident
    # ... until it goes where it has never been: a new incident, not the first one going on.
    second = feed(bank, [230.0], start=start + 121 * FIVE_MINUTES)
    assert [a.value for a in second] == [230.0]


def test_leaving_the_range_sample_after_sample_is_one_incident_going_on():
    bank = bank_with_defaults("predictive")
    history = gauss(288 * 3, 100.0, 2.0, seed=19)
    feed(bank, history)
    # A runaway: a new high every sample for 400 samples.
    runaway = [120.0 + 5.0 * i for i in range(400)]
    anomalies = feed(bank, runaway, start=len(history) * FIVE_MINUTES)
    assert len(anomalies) == 1


def bursts_of_varying_size(n: int, seed: int) -> list[float]:
    """A quiet series with a burst every 300 samples: one of 40 early on, the others about 12."""
    rng = random.Random(seed)
    values = [10 + rng.gauss(0, 1.0) for _ in range(n)]
    for i in range(150, n, 300):
        values[i] += 40.0 if i == 750 else 12.0 * rng.uniform(0.9, 1.1)
    return values


def test_a_series_that_bursts_often_is_judged_against_its_biggest_burst(monkeypatch):
    values = bursts_of_varying_size(288 * 10, seed=3)
    with_record = feed(bank_with_defaults("predictive"), values)
    monkeypatch.setattr(predictive, "FAST_RECORD_SHARE", 0.0)
    monkeypatch.setattr(predictive, "SLOW_RECORD_SHARE", 0.0)
    without_record = feed(bank_with_defaults("predictive"), values)
    # The big burst is news either way; after it, bursts a third of its size mostly are not.
    assert 750 * FIVE_MINUTES in {a.started_at for a in with_record}
    assert len(with_record) <= len(without_record) - 3


def test_a_spike_that_reaches_the_series_record_is_news_again_with_its_return_to_normal_at_the_latest():
    # Sampled every minute, so the range is not judged yet (two days): only the predictors speak.
    rng = random.Random(5)
    values = [10 + rng.gauss(0, 1.0) for _ in range(2000)]
    values[700] += 40.0
    values[1500] += 60.0
    first, second = feed(bank_with_defaults("predictive"), values, step=60.0)
    assert first.started_at == 700 * 60.0
    # Both spikes saturate the error ratio, so the second equals the record only with its return
    # to normal, one sample later.
    assert 1500 * 60.0 <= second.started_at <= 1501 * 60.0
    assert second.score >= PredictiveParams().threshold
