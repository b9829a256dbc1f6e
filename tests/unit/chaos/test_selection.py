"""Target selection modes and the blast radius."""

from __future__ import annotations

import random

import pytest

from naksha.domain.chaos.selection import BlastRadius, SelectionError, check_blast_radius, select_targets

PODS = [f"web-{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [("one", None, 1), ("all", None, 10), ("fixed", 3, 3), ("fixed", 30, 10), ("fixed-percent", 50, 5)],
)
def test_each_mode_selects_its_count(mode, value, expected):
    chosen = select_targets(PODS, mode, value, rng=random.Random(1))
    assert len(chosen) == expected
    assert set(chosen) <= set(PODS)
    assert len(set(chosen)) == len(chosen)


def test_a_small_percentage_still_selects_one_target():
    assert len(select_targets(PODS[:3], "fixed-percent", 10)) == 1


def test_random_max_percent_never_exceeds_its_percentage_and_varies():
    sizes = {
        len(select_targets(PODS, "random-max-percent", 40, rng=random.Random(seed))) for seed in range(60)
    }
    assert sizes == {1, 2, 3, 4}


def test_selection_is_reproducible_with_the_same_seed():
    assert select_targets(PODS, "fixed", 4, rng=random.Random(7)) == select_targets(
        PODS, "fixed", 4, rng=random.Random(7)
    )


def test_no_candidates_is_an_error_naming_the_selector():
    with pytest.raises(SelectionError, match="no object matches"):
        select_targets([], "one", None)


def test_the_blast_radius_refuses_too_many_targets_and_too_large_a_share():
    assert check_blast_radius(3, 10, BlastRadius(max_targets=3)) is None
    assert "maxTargets is 2" in str(check_blast_radius(3, 10, BlastRadius(max_targets=2)))
    assert check_blast_radius(5, 10, BlastRadius(max_percent=50)) is None
    assert "exceed blastRadius.maxPercent 40%" in str(check_blast_radius(5, 10, BlastRadius(max_percent=40)))
    assert check_blast_radius(10, 10, BlastRadius()) is None
