"""The ways a statistical detector goes wrong on real series, each checked with the defaults a user
gets from ``method: ewma`` or ``method: predictive`` and no params: one incident is one anomaly,
and the detector is neither deaf nor noisy afterwards."""

from __future__ import annotations

import math
import random

import pytest

from naksha.domain.insight.detectors import DetectorBank
from naksha.domain.insight.records import Record
from naksha.models.insightstream import Detector

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
