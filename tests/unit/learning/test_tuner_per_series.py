"""Tuning per series: series with enough labelled incidents of their own get parameters of their
own beside the detector-wide set; the rest stay on it, and the artifact says which is which."""

from __future__ import annotations

import random
from typing import Any

import pytest
from tests.support.learning import START, loose_detector

from naksha.domain.insight.records import Record
from naksha.domain.learning import tuner
from naksha.domain.learning.outcomes import parse_outcomes, rfc3339
from naksha.domain.learning.swap import tuned_series, tuned_spec
from naksha.domain.learning.training import train
from naksha.models.insightstream import Detector

STEP = 10.0
SAMPLES = 8000


def series(
    pod: str, seed: int, *, shift: float, blips: bool, incidents: int, labelled: bool
) -> tuple[list[Record], list[dict[str, Any]]]:
    """One pod's latency: gaussian noise, ``incidents`` level shifts of ``shift`` sigma, and with
    ``blips`` one-sample 5-7 sigma blips that are not incidents."""
    rng = random.Random(seed)
    values = [100.0 + rng.gauss(0, 1) for _ in range(SAMPLES)]
    if blips:
        for _ in range(SAMPLES // 200):
            values[rng.randrange(300, SAMPLES)] += rng.choice((-1, 1)) * rng.uniform(5, 7)
    outcomes = []
    spacing = (SAMPLES - 400) // incidents
    for n in range(incidents):
        at = 400 + n * spacing + rng.randrange(0, spacing // 3)
        for i in range(at, at + 50):
            values[i] += shift
        if labelled:
            outcomes.append(
                {
                    "run": f"default/{pod}-{n}",
                    "finishedAt": rfc3339(START + (at + 50) * STEP),
                    "detectedAt": START + at * STEP,
                    "detector": "latency",
                    "labels": {"pod": pod},
                    "playbook": "restart",
                    "resolved": True,
                    "acted": True,
                    "timeToRecoverSeconds": 50 * STEP,
                }
            )
    labels = (("pod", pod),)
    return [Record(START + i * STEP, "latency_ms", v, labels) for i, v in enumerate(values)], outcomes


def three_pods() -> tuple[list[Record], list[dict[str, Any]]]:
    # a: blips and large shifts, well labelled; b: quiet, small shifts (a strict bound misses them),
    # well labelled;
    # c: blips like a but only two labelled incidents, too few to be tuned on its own.
    a, a_out = series("a", 1, shift=15.0, blips=True, incidents=12, labelled=True)
    b, b_out = series("b", 2, shift=2.5, blips=False, incidents=12, labelled=True)
    c, c_out = series("c", 3, shift=15.0, blips=True, incidents=2, labelled=True)
    records = sorted(a + b + c, key=lambda r: (r.ts, r.labels))
    return records, a_out + b_out + c_out


@pytest.fixture(scope="module")
def tuned() -> tuple[tuner.TunerResult, list[Record], dict[str, list[tuner.Incident]], float]:
    records, outcomes = three_pods()
    incidents = tuner.incidents_from_outcomes(parse_outcomes(outcomes).outcomes)
    split_at = START + 0.75 * SAMPLES * STEP
    return tuner.tune([loose_detector()], records, incidents, split_at), records, incidents, split_at


class TestTuningPerSeries:
    def test_a_well_labelled_series_gets_its_own_parameters_and_a_thinly_labelled_one_does_not(
        self, tuned: tuple[tuner.TunerResult, list[Record], dict[str, list[tuner.Incident]], float]
    ) -> None:
        result = tuned[0]
        (detector,) = result.detectors
        overridden = {dict(s.labels)["pod"]: s.chosen for s in detector.series}
        assert "a" in overridden and "c" not in overridden
        wide = detector.chosen["params"]["ewma"]["zscore"]
        assert overridden["a"]["params"]["ewma"]["zscore"] > wide  # a's blips ask for a stricter bound
        assert all(spec["method"] == detector.chosen["method"] for spec in overridden.values())

    def test_the_overrides_cut_false_positives_without_losing_an_incident(
        self, tuned: tuple[tuner.TunerResult, list[Record], dict[str, list[tuner.Incident]], float]
    ) -> None:
        result, records, incidents, split_at = tuned
        (detector,) = result.detectors
        raised = tuner.replay(Detector.model_validate(detector.chosen), records)
        start, end = records[0].ts, records[-1].ts + 1e-9
        wide_train = tuner.score(raised, incidents["latency"], start, split_at)
        wide_holdout = tuner.score(raised, incidents["latency"], split_at, end)
        assert detector.train.false_positives < wide_train.false_positives
        assert detector.train.detected >= wide_train.detected
        assert detector.holdout.false_positives <= wide_holdout.false_positives
        assert detector.holdout.detected >= wide_holdout.detected

    def test_the_artifact_carries_the_overrides_beside_the_detector_wide_set_and_the_swap_reads_them(
        self, tuned: tuple[tuner.TunerResult, list[Record], dict[str, list[tuner.Incident]], float]
    ) -> None:
        artifact = tuned[0].artifact()
        assert set(artifact) == {"algorithm", "detectors", "series"}
        running = loose_detector()
        spec = tuned_spec(artifact, running)
        assert spec is not None
        own = tuned_series(artifact, running, spec)
        assert (("pod", "a"),) in own and (("pod", "c"),) not in own

    def test_one_series_or_no_labelled_series_keeps_the_artifact_as_before(self) -> None:
        records, outcomes = series("a", 1, shift=15.0, blips=True, incidents=12, labelled=True)
        incidents = tuner.incidents_from_outcomes(parse_outcomes(outcomes).outcomes)
        result = tuner.tune([loose_detector()], records, incidents, START + 0.75 * SAMPLES * STEP)
        assert set(result.artifact()) == {"algorithm", "detectors"}  # the same bytes as before overrides

    def test_per_series_tuning_can_be_turned_off(
        self, tuned: tuple[tuner.TunerResult, list[Record], dict[str, list[tuner.Incident]], float]
    ) -> None:
        _, records, incidents, split_at = tuned
        result = tuner.tune([loose_detector()], records, incidents, split_at, per_series=False)
        assert not result.detectors[0].series and "series" not in result.artifact()

    def test_the_trainer_reports_how_many_series_were_tuned_and_scores_a_holder_with_its_overrides(
        self,
    ) -> None:
        records, outcomes = three_pods()
        parsed = parse_outcomes(outcomes)
        first = train("detector-tuner", {}, parsed, 0.25, records=records, detectors=[loose_detector()])
        assert first.evaluation["detectors"]["latency"]["seriesTuned"] >= 1
        # The same data against itself as the holder: the holder's figures are the new ones.
        again = train(
            "detector-tuner",
            {},
            parsed,
            0.25,
            records=records,
            detectors=[loose_detector()],
            holder_artifact=first.artifact,
        )
        assert again.holder_metrics == again.metrics
