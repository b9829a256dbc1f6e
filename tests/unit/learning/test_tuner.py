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
    def test_by_default_the_choice_detects_every_training_incident_the_current_parameters_detect(
        self,
    ) -> None:
        records, outcomes = labelled_series(samples=6000, incidents=8)
        data = parse_outcomes(outcomes)
        base = loose_detector()
        free = train(
            "detector-tuner",
            {"objective": "precision", "keepRecall": False},
            data,
            0.3,
            records=records,
            detectors=[base],
        )
        kept = train(
            "detector-tuner", {"objective": "precision"}, data, 0.3, records=records, detectors=[base]
        )
        split = kept.evaluation["splitAt"]
        incidents = _incidents(outcomes)

        def training_covered(artifact: dict[str, object]) -> frozenset[int]:
            chosen = Detector.model_validate(artifact["detectors"]["latency"])  # type: ignore[index]
            return tuner.covered(tuner.replay(chosen, records), incidents, records[0].ts, split)

        required = tuner.covered(tuner.replay(base, records), incidents, records[0].ts, split)
        assert required and required <= training_covered(kept.artifact)
        assert free.metrics["precision"] is not None  # without the constraint the objective alone decides

    def test_without_labelled_training_incidents_the_current_parameters_stay(self) -> None:
        records, _ = labelled_series(samples=3000, incidents=4)
        split = records[int(len(records) * 0.7)].ts
        late = [tuner.Incident(split + 100, split + 600)]  # labels in the holdout only
        kept = tuner.tune_detector(loose_detector(), records, late, split)
        assert kept.candidates == 1 and kept.chosen == loose_detector().model_dump(
            by_alias=True, exclude_none=True
        )
        free = tuner.tune_detector(loose_detector(), records, late, split, keep_recall=False)
        assert free.candidates > 1

    def test_covered_names_the_incidents_of_the_period_an_anomaly_fell_inside(self) -> None:
        incidents = [tuner.Incident(10, 20), tuner.Incident(30, 40), tuner.Incident(50, 60)]
        raised = [tuner.Raised(15, ()), tuner.Raised(45, ()), tuner.Raised(55, ())]
        assert tuner.covered(raised, incidents, 0, 50) == frozenset({0})
        assert tuner.covered(raised, incidents, 0, 100) == frozenset({0, 2})

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
