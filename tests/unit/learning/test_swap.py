"""Hot swap: a running detector takes tuned parameters in place and keeps what it learnt."""

from __future__ import annotations

from typing import Any

import pytest

from naksha.domain.insight.detectors import DetectorRunner
from naksha.domain.insight.records import Record
from naksha.domain.learning.swap import apply_tuned, tuned_series, tuned_spec
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


POD_A, POD_B = (("pod", "a"),), (("pod", "b"),)


def two_pods_warmed() -> DetectorRunner:
    runner = DetectorRunner(RUNNING)
    for i in range(400):
        for pod in (POD_A, POD_B):
            runner.observe(Record(float(i), "latency_ms", 100.0 + (i % 5) - 2, pod))
    return runner


def per_series_artifact(**series: Any) -> dict[str, Any]:
    wide = {"method": "ewma", "params": {"ewma": {"zscore": 4.0}}}
    return {"algorithm": "detector-tuner", "detectors": {"latency": wide}, "series": {"latency": [series]}}


def series_of(artifact: dict[str, Any]) -> dict[Any, Detector]:
    spec = tuned_spec(artifact, RUNNING)
    assert spec is not None
    return tuned_series(artifact, RUNNING, spec)


class TestPerSeriesSwap:
    def test_a_tuned_series_is_judged_by_its_own_parameters_and_the_others_by_the_detectors(self) -> None:
        runner = two_pods_warmed()
        states = dict(runner.series)
        artifact = per_series_artifact(
            labels={"pod": "a"}, spec={"method": "ewma", "params": {"ewma": {"zscore": 12.0}}}
        )
        spec = tuned_spec(artifact, RUNNING)
        assert spec is not None
        assert apply_tuned(runner, spec, series_of(artifact)) == "kept"
        assert dict(runner.series) == states and all(runner.series[k] is v for k, v in states.items())
        # ~8 sigma: inside pod a's own bound of 12, past the detector-wide 4 that pod b runs.
        assert runner.observe(Record(500.0, "latency_ms", 112.0, POD_A)) is None
        assert runner.observe(Record(500.0, "latency_ms", 112.0, POD_B)) is not None
        assert runner.observe(Record(501.0, "latency_ms", 200.0, POD_A)) is not None  # a's baseline kept

    def test_the_next_swap_replaces_the_overrides(self) -> None:
        runner = two_pods_warmed()
        artifact = per_series_artifact(
            labels={"pod": "a"}, spec={"method": "ewma", "params": {"ewma": {"zscore": 12.0}}}
        )
        spec = tuned_spec(artifact, RUNNING)
        assert spec is not None
        apply_tuned(runner, spec, series_of(artifact))
        apply_tuned(runner, spec)  # a version without per-series parameters
        assert not runner.overrides
        assert runner.observe(Record(500.0, "latency_ms", 112.0, POD_A)) is not None

    def test_an_artifact_without_series_gives_none_and_names_are_the_running_detectors(self) -> None:
        assert series_of({"algorithm": "detector-tuner", "detectors": {"latency": {"method": "ewma"}}}) == {}
        own = series_of(
            per_series_artifact(labels={"pod": "a"}, spec={"name": "x", "metric": "y", "method": "ewma"})
        )
        assert (own[POD_A].name, own[POD_A].metric) == (RUNNING.name, RUNNING.metric)


class TestPerSeriesRefusals:
    @pytest.mark.parametrize(
        ("entry", "message"),
        [
            (
                {
                    "labels": {"pod": "a"},
                    "spec": {"method": "threshold", "params": {"threshold": {"above": 1}}},
                },
                "not the detector's ewma",
            ),
            ({"labels": {"pod": 1}, "spec": {"method": "ewma"}}, "strings to strings"),
            ({"labels": {"pod": "a"}}, "needs labels and spec"),
            ({"labels": {"pod": "a"}, "spec": {"method": "magic"}}, "method"),
        ],
    )
    def test_a_malformed_series_entry_is_refused_whole(self, entry: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            series_of(per_series_artifact(**entry))

    def test_series_that_are_not_a_list_are_refused(self) -> None:
        artifact = {
            "algorithm": "detector-tuner",
            "detectors": {"latency": {"method": "ewma"}},
            "series": {"latency": {}},
        }
        with pytest.raises(ValueError, match="must be a list"):
            series_of(artifact)
