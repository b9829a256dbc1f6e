"""Detectors alert once per incident, after warm-up, and re-arm only after a quiet cooldown."""

from __future__ import annotations

import random

from naksha.domain.insight.detectors import DetectorBank
from naksha.domain.insight.records import Record
from naksha.models.insightstream import Detector


def detector(method: str, **fields: object) -> Detector:
    params = {
        "threshold": {"threshold": {"above": 10.0}},
        "ewma": {"ewma": {"alpha": 0.05, "zscore": 5.0}},
        "rate": {"rate": {"window": "60s", "maxChangePerSecond": 5.0}},
    }[method]
    return Detector.model_validate(
        {
            "name": "d",
            "metric": "m",
            "method": method,
            "params": params,
            "minSamples": 5,
            "cooldown": "30s",
            **fields,
        }
    )


def feed(
    bank: DetectorBank, values: list[float], *, start: float = 0.0, step: float = 1.0, labels=()
) -> list:
    anomalies = []
    for i, value in enumerate(values):
        anomalies += bank.observe(Record(ts=start + i * step, metric="m", value=value, labels=labels))
    return anomalies


def noise(n: int, *, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [100 + rng.gauss(0, 1) for _ in range(n)]


def test_a_steady_series_never_alerts():
    for method in ("threshold", "ewma", "rate"):
        bank = DetectorBank([detector(method, minSamples=30)])
        values = [5.0] * 200 if method == "threshold" else noise(500)
        assert feed(bank, values) == [], method


def test_an_ewma_spike_after_warm_up_alerts_exactly_once_per_incident():
    bank = DetectorBank([detector("ewma", minSamples=30)])
    values = noise(100) + [160.0] * 10 + noise(20, seed=3)
    (anomaly,) = feed(bank, values)
    assert anomaly.started_at == 100.0 and anomaly.value == 160.0 and 0.9 < anomaly.score <= 1
    assert anomaly.series == ("m", ())


def test_nothing_alerts_during_warm_up():
    bank = DetectorBank([detector("threshold", minSamples=5)])
    assert feed(bank, [50.0] * 5) == []
    assert len(feed(bank, [50.0], start=5)) == 1


def test_the_incident_re_arms_only_after_the_cooldown_of_normal_samples():
    bank = DetectorBank([detector("threshold", minSamples=1)])
    first = feed(bank, [1.0, 20.0, 1.0, 20.0])  # back above 2 s after: same incident
    assert len(first) == 1
    later = feed(bank, [1.0] * 40 + [20.0], start=10)  # quiet for more than 30 s: a new incident
    assert len(later) == 1 and later[0].started_at == 50.0


def test_an_incident_still_open_after_rearm_samples_raises_its_next_anomalous_sample_again():
    # Above the bound on every fifth sample: never 40 s quiet, so the incident never ends by cooldown.
    flapping = [20.0 if i % 5 == 0 else 1.0 for i in range(100)]
    bank = DetectorBank([detector("threshold", minSamples=1, rearmSamples=30)])
    anomalies = feed(bank, flapping)
    # Raised at 5 (the first sample is warm-up), then at the first anomalous sample 30 or more
    # samples after each raise.
    assert [a.started_at for a in anomalies] == [5.0, 35.0, 65.0, 95.0]
    never = DetectorBank([detector("threshold", minSamples=1)])  # threshold's default: never
    assert len(feed(never, flapping)) == 1
    explicit = DetectorBank([detector("threshold", minSamples=1, rearmSamples=0)])
    assert len(feed(explicit, flapping)) == 1


def test_a_long_incident_teaches_the_baseline_only_slowly():
    bank = DetectorBank([detector("ewma", cooldown="1s", minSamples=30)])
    feed(bank, noise(100))
    runner = bank.runners[0]
    baseline = runner.series[()].mean
    feed(bank, [200.0] * 20, start=100)
    assert baseline < runner.series[()].mean < baseline + 10


def test_the_rate_detector_flags_a_fast_change_but_not_a_gap():
    bank = DetectorBank([detector("rate", minSamples=1)])
    assert feed(bank, [0.0, 2.0, 4.0]) == []
    (jump,) = feed(bank, [40.0], start=3)
    assert 0.5 < jump.score <= 1 and jump.window == 60.0
    # Two samples 10 minutes apart say nothing about speed.
    fresh = DetectorBank([detector("rate", minSamples=1)])
    assert feed(fresh, [0.0, 1000.0], step=600) == []


def test_series_are_kept_apart_and_labels_select_the_detector():
    bank = DetectorBank([detector("threshold", minSamples=1, labels={"svc": "api"})])
    api, web = (("svc", "api"),), (("svc", "web"),)
    assert feed(bank, [50.0], labels=web) == []
    (anomaly,) = feed(bank, [1.0, 50.0], labels=api)
    assert anomaly.labels == api


def test_the_number_of_series_is_capped_and_evictions_are_counted():
    bank = DetectorBank([detector("threshold")], max_series=3)
    for i in range(5):
        feed(bank, [1.0], labels=(("pod", str(i)),))
    assert len(bank.runners[0].series) == 3
    assert bank.evicted == 2
