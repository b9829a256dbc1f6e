"""The holdout is the latest data, never a random sample; metrics are undefined rather than invented."""

from __future__ import annotations

import pytest

from naksha.domain.learning.metrics import DetectionCounts, better
from naksha.domain.learning.split import split_time, time_split


class TestTimeSplit:
    def test_the_latest_fraction_is_held_out(self) -> None:
        train, holdout = time_split([5, 1, 4, 2, 3, 6, 8, 7, 10, 9], 0.2, float)
        assert train == [1, 2, 3, 4, 5, 6, 7, 8] and holdout == [9, 10]

    def test_items_sharing_the_cut_time_all_go_to_the_holdout(self) -> None:
        train, holdout = time_split([1, 2, 3, 3, 3], 0.2, float)
        assert train == [1, 2] and holdout == [3, 3, 3]

    def test_at_least_one_item_is_held_out_and_one_trained_on(self) -> None:
        assert time_split([1, 2], 0.01, float) == ([1], [2])
        assert time_split([1, 2], 0.99, float) == ([1], [2])

    def test_a_single_item_leaves_the_holdout_empty(self) -> None:
        assert time_split([1], 0.5, float) == ([1], [])

    @pytest.mark.parametrize("fraction", [0, 1, -0.1])
    def test_a_fraction_outside_zero_to_one_is_refused(self, fraction: float) -> None:
        with pytest.raises(ValueError, match="holdout fraction"):
            time_split([1, 2], fraction, float)

    def test_the_split_time_leaves_the_last_fraction_of_the_period(self) -> None:
        assert split_time(0, 100, 0.25) == 75


class TestMetrics:
    def test_precision_recall_f1_from_counts(self) -> None:
        counts = DetectionCounts(true_positives=3, false_positives=1, incidents=6, detected=3)
        assert counts.precision == 0.75 and counts.recall == 0.5
        assert counts.f1 == pytest.approx(0.6)

    def test_no_detections_leave_precision_undefined(self) -> None:
        counts = DetectionCounts(0, 0, 4, 0)
        assert counts.precision is None and counts.recall == 0 and counts.f1 is None

    def test_better_respects_the_direction_and_the_margin(self) -> None:
        assert better("f1", 0.8, 0.7, 0.05) and not better("f1", 0.74, 0.7, 0.05)
        assert better("mttr-seconds", 50, 100, 10) and not better("mttr-seconds", 95, 100, 10)
        assert better("f1", 0.1, None, 0.5) and not better("f1", None, 0.1, 0)
