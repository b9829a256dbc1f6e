"""The benchmark's implementation of NAB scoring: perfect is 100, silence is 0, early beats late,
false positives cost their profile's weight, and the threshold sweep finds the best threshold."""

from __future__ import annotations

import math
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
    one_missed = [[400], [600]]
    missed_cost = raw_score(CORPUS, one_missed, STANDARD) - raw_score(CORPUS, [[400], [600, 800]], STANDARD)
    assert missed_cost == pytest.approx(-2.0)  # the point it would have earned, and the miss
    assert raw_score(CORPUS, one_missed, LOW_FN) == pytest.approx(
        raw_score(CORPUS, one_missed, STANDARD) - 1.0
    )


def test_a_detection_at_a_window_start_is_worth_one_point_and_halfway_nabs_scaled_sigmoid_share():
    assert raw_score(CORPUS, [[400], []], STANDARD) == pytest.approx(1.0 - 2.0)
    # Halfway: y = -(499 - 450 + 1) / 100 = -0.5, worth S(-0.5) / S(-1) (NAB: 0.84828 / 0.98661).
    assert raw_score(CORPUS, [[450], []], STANDARD) == pytest.approx(0.84828 / 0.98661 - 2.0, abs=1e-4)


def test_a_false_positive_past_a_window_costs_by_window_widths_and_a_full_point_from_three_on():
    series = LabelledSeries(1000, [(400, 499)])
    # 99 samples = one width minus one past the end: y = 1, S(1) = -0.98661 (NAB's example).
    assert series.worth[499 + 99] == pytest.approx(-0.98661, abs=1e-5)
    assert series.worth[499 + 3 * 99] == -1.0
    assert series.worth[500] == pytest.approx(2.0 / (1.0 + math.exp(5.0 / 99)) - 1.0)
    assert series.worth[300] == -1.0  # before the first window


def test_a_window_wholly_inside_the_probation_is_neither_hit_nor_missed():
    series = LabelledSeries(1000, [(50, 99), (400, 499)])  # the probation is the first 150 samples
    assert series.windows == [(50, 99), (400, 499)][1:]
    assert series.perfect() == 1.0
    assert series.worth[200] == pytest.approx(-1.0, abs=1e-3)  # still after that window: a false positive


def test_the_threshold_sweep_finds_the_threshold_that_keeps_detections_and_drops_noise():
    scores = [[0.0] * 1000, [0.0] * 1000]
    scores[0][400] = scores[1][600] = scores[1][800] = 0.9
    scores[0][900] = 0.5  # a false positive with a lower score
    threshold, raw = best_threshold(CORPUS, scores, STANDARD)
    assert 0.5 < threshold <= 0.9
    assert normalised(CORPUS, raw, STANDARD) == pytest.approx(100.0)
