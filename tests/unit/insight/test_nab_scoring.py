"""The benchmark's implementation of NAB scoring: perfect is 100, silence is 0, early beats late,
false positives cost their profile's weight, and the threshold sweep finds the best threshold."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

from nab_scoring import PROFILES, LabelledSeries, best_threshold, normalised, raw_score

STANDARD, LOW_FP, LOW_FN = PROFILES
CORPUS = [LabelledSeries(1000, [(400, 499)]), LabelledSeries(1000, [(600, 649), (800, 849)])]


def score(detections: list[list[int]], profile=STANDARD) -> float:
    return normalised(CORPUS, raw_score(CORPUS, detections, profile), profile)


@pytest.mark.parametrize("profile", PROFILES)
def test_detecting_every_window_at_its_start_scores_100_and_silence_scores_0(profile):
    assert score([[400], [600, 800]], profile) == pytest.approx(100.0)
    assert score([[], []], profile) == pytest.approx(0.0)


def test_an_early_detection_is_worth_more_than_a_late_one_and_only_the_first_counts():
    early, late = score([[410], []]), score([[490], []])
    assert early > late > 0
    assert score([[410, 420, 430], []]) == pytest.approx(early)


def test_false_positives_cost_more_under_the_low_fp_profile_and_detections_in_probation_are_ignored():
    with_fp = [[400, 900], [600, 800]]
    assert score(with_fp, LOW_FP) < score(with_fp, STANDARD) < 100.0
    assert score([[10, 400], [600, 800]]) == pytest.approx(100.0)  # index 10 is in the probation period


def test_missing_a_window_costs_twice_as_much_under_the_low_fn_profile():
    assert score([[400], [600]], LOW_FN) < score([[400], [600]], STANDARD)


def test_the_threshold_sweep_finds_the_threshold_that_keeps_detections_and_drops_noise():
    scores = [[0.0] * 1000, [0.0] * 1000]
    scores[0][400] = scores[1][600] = scores[1][800] = 0.9
    scores[0][900] = 0.5  # a false positive with a lower score
    threshold, raw = best_threshold(CORPUS, scores, STANDARD)
    assert 0.5 < threshold <= 0.9
    assert normalised(CORPUS, raw, STANDARD) == pytest.approx(100.0)
