"""Hot swap: a running detector takes tuned parameters in place and keeps what it learnt."""

from __future__ import annotations

import pytest

from naksha.domain.insight.detectors import DetectorRunner
from naksha.domain.insight.records import Record
from naksha.domain.learning.swap import apply_tuned, tuned_spec
from naksha.models.insightstream import Detector

RUNNING = Detector.model_validate(
    {
        "name": "latency",
        "metric": "latency_ms",
        "method": "ewma",
        "params": {"ewma": {"zscore": 4.0}},
        "model": {"name": "tuner"},
    }
)


def warmed() -> DetectorRunner:
    runner = DetectorRunner(RUNNING)
    for i in range(400):
        runner.observe(Record(float(i), "latency_ms", 100.0 + (i % 5) - 2))
    return runner


def tuned(zscore: float, method: str = "ewma") -> Detector:
    params = {"ewma": {"zscore": zscore}} if method == "ewma" else {"threshold": {"above": 500}}
    artifact = {
        "algorithm": "detector-tuner",
        "detectors": {"latency": {"name": "x", "metric": "other", "method": method, "params": params}},
    }
    spec = tuned_spec(artifact, RUNNING)
    assert spec is not None
    return spec


class TestSwap:
    def test_the_new_bound_applies_at_once_and_the_baseline_is_kept(self) -> None:
        before, after = warmed(), warmed()
        (state,) = after.series.values()
        assert apply_tuned(after, tuned(12.0)) == "kept"
        assert next(iter(after.series.values())) is state
        blip = Record(500.0, "latency_ms", 112.0)  # ~8 sigma: past 4, inside 12
        assert before.observe(blip) is not None
        assert after.observe(blip) is None
        spike = Record(501.0, "latency_ms", 200.0)  # a warm baseline judges at once
        assert after.observe(spike) is not None

    def test_a_different_method_starts_the_series_afresh(self) -> None:
        runner = warmed()
        assert apply_tuned(runner, tuned(0, method="threshold")) == "reset"
        assert runner.method == "threshold" and not runner.series

    def test_the_running_name_metric_and_model_stay(self) -> None:
        spec = tuned(10.0)
        assert (spec.name, spec.metric, spec.model) == (RUNNING.name, RUNNING.metric, RUNNING.model)


class TestRefusals:
    def test_a_ranker_artifact_is_refused(self) -> None:
        with pytest.raises(ValueError, match="not detector-tuner"):
            tuned_spec({"algorithm": "playbook-ranker"}, RUNNING)

    def test_an_artifact_without_this_detector_gives_nothing(self) -> None:
        assert tuned_spec({"algorithm": "detector-tuner", "detectors": {}}, RUNNING) is None

    def test_an_invalid_entry_is_refused(self) -> None:
        broken = {"algorithm": "detector-tuner", "detectors": {"latency": {"method": "magic"}}}
        with pytest.raises(ValueError):
            tuned_spec(broken, RUNNING)
