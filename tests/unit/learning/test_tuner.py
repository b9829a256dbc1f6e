"""The detector tuner replays the worker's detectors and lowers false positives without losing incidents."""

from __future__ import annotations

import pytest
from tests.support.learning import labelled_series, loose_detector

from naksha.domain.insight.detectors import DetectorRunner
from naksha.domain.insight.records import Record
from naksha.domain.learning import tuner
from naksha.domain.learning.outcomes import parse_outcomes
from naksha.domain.learning.training import TrainingError, train
from naksha.models.insightstream import Detector


@pytest.fixture(scope="module")
def tuned() -> object:
    records, outcomes = labelled_series()
    return train(
        "detector-tuner", {}, parse_outcomes(outcomes), 0.25, records=records, detectors=[loose_detector()]
    )


class TestQuality:
    def test_fewer_false_positives_at_equal_or_better_recall_on_the_holdout(self, tuned: object) -> None:
        result = tuned
        evaluation = result.evaluation  # type: ignore[attr-defined]
        assert evaluation["baselineFalsePositives"] > 0
        assert evaluation["falsePositives"] < evaluation["baselineFalsePositives"]
        assert result.metrics["recall"] >= result.baseline_metrics["recall"]  # type: ignore[attr-defined]
        assert result.metrics["f1"] > result.baseline_metrics["f1"]  # type: ignore[attr-defined]

    def test_the_chosen_parameters_are_a_valid_detector_spec(self, tuned: object) -> None:
        chosen = tuned.artifact["detectors"]["latency"]  # type: ignore[attr-defined]
        detector = Detector.model_validate(chosen)
        assert detector.name == "latency" and detector.params.ewma is not None
        assert detector.params.ewma.zscore > 4.0  # the blips crossed 4; the choice is stricter


class TestReplay:
    def test_the_replay_raises_exactly_what_the_workers_detector_raises(self) -> None:
        records, _ = labelled_series(samples=3000, incidents=3)
        runner = DetectorRunner(loose_detector())
        direct = [a.detected_at for r in records if (a := runner.observe(r)) is not None]
        assert [r.ts for r in tuner.replay(loose_detector(), records)] == direct

    def test_an_anomaly_inside_a_labelled_incident_is_true_and_outside_is_false(self) -> None:
        incidents = [tuner.Incident(100, 200)]
        raised = [tuner.Raised(150, ()), tuner.Raised(300, ()), tuner.Raised(160, ())]
        counts = tuner.score(raised, incidents, 0, 1000)
        assert (counts.true_positives, counts.false_positives, counts.incidents, counts.detected) == (
            2,
            1,
            1,
            1,
        )

    def test_an_incident_of_another_series_does_not_make_an_anomaly_true(self) -> None:
        incidents = [tuner.Incident(100, 200, (("pod", "a"),))]
        counts = tuner.score([tuner.Raised(150, (("pod", "b"),))], incidents, 0, 1000)
        assert counts.false_positives == 1 and counts.detected == 0

    def test_a_threshold_grid_uses_quantiles_of_the_training_values(self) -> None:
        base = Detector.model_validate(
            {"name": "d", "metric": "m", "method": "threshold", "params": {"threshold": {"above": 5}}}
        )
        grid = tuner.candidates(base, [float(v) for v in range(1000)], ["threshold"])
        assert sorted(d.params.threshold.above for d in grid if d.params.threshold) == [  # type: ignore[misc]
            900.0,
            950.0,
            980.0,
            990.0,
            995.0,
            999.0,
        ]


class TestBadInput:
    def test_no_detectors_is_a_clear_error(self) -> None:
        with pytest.raises(TrainingError, match="needs the streams' detectors"):
            train("detector-tuner", {}, parse_outcomes([]), 0.2, records=[Record(1, "m", 1)])

    def test_no_history_is_a_clear_error(self) -> None:
        with pytest.raises(TrainingError, match="needs the streams' history"):
            train("detector-tuner", {}, parse_outcomes([]), 0.2, detectors=[loose_detector()])

    def test_a_metric_absent_from_the_history_is_a_clear_error(self) -> None:
        with pytest.raises(TrainingError, match="no detector's metric"):
            train(
                "detector-tuner",
                {},
                parse_outcomes([]),
                0.2,
                records=[Record(1, "other", 1)],
                detectors=[loose_detector()],
            )

    @pytest.mark.parametrize(
        "params", [{"methods": ["magic"]}, {"objective": "accuracy"}, {"incidentAfterSeconds": -1}]
    )
    def test_bad_params_are_refused(self, params: dict[str, object]) -> None:
        with pytest.raises(TrainingError):
            train(
                "detector-tuner",
                params,
                parse_outcomes([]),
                0.2,
                records=[Record(1, "m", 1)],
                detectors=[loose_detector()],
            )


class TestKeepRecall:
    def test_keep_recall_never_chooses_a_detector_that_misses_more_training_incidents(self) -> None:
        records, outcomes = labelled_series(samples=6000, incidents=8)
        data = parse_outcomes(outcomes)
        base = loose_detector()
        free = train(
            "detector-tuner", {"objective": "precision"}, data, 0.3, records=records, detectors=[base]
        )
        kept = train(
            "detector-tuner",
            {"objective": "precision", "keepRecall": True},
            data,
            0.3,
            records=records,
            detectors=[base],
        )
        split = kept.evaluation["splitAt"]
        base_train = tuner.score(tuner.replay(base, records), _incidents(outcomes), records[0].ts, split)
        chosen = Detector.model_validate(kept.artifact["detectors"]["latency"])
        kept_train = tuner.score(tuner.replay(chosen, records), _incidents(outcomes), records[0].ts, split)
        assert kept_train.detected >= base_train.detected
        assert free.metrics["precision"] is not None

    def test_keep_recall_must_be_a_boolean(self) -> None:
        with pytest.raises(TrainingError, match="keepRecall"):
            train(
                "detector-tuner",
                {"keepRecall": "yes"},
                parse_outcomes([]),
                0.2,
                records=[Record(1, "m", 1)],
                detectors=[loose_detector()],
            )


def _incidents(outcomes: list[dict[str, object]]) -> list[tuner.Incident]:
    return tuner.incidents_from_outcomes(parse_outcomes(outcomes).outcomes)["latency"]
