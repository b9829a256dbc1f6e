"""The holdout split: by time, never at random, so a model is judged on what came after its data.

A random split would let a model learn from the future of the runs it is scored on (the same
incident's retries fall on both sides); splitting at a time keeps evaluation honest about drift.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def time_split(
    items: Sequence[T], holdout_fraction: float, time_of: Callable[[T], float]
) -> tuple[list[T], list[T]]:
    """``(train, holdout)``: the latest ``holdout_fraction`` of the items (at least one) is held out.

    Items are ordered by time first; items sharing the cut's timestamp all go to the holdout, so
    nothing the model trained on is as recent as what it is scored on.
    """
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), not {holdout_fraction}")
    ordered = sorted(items, key=time_of)
    if len(ordered) < 2:
        return ordered, []
    cut = min(len(ordered) - 1, max(1, math.floor(len(ordered) * (1 - holdout_fraction))))
    boundary = time_of(ordered[cut])
    while cut > 0 and time_of(ordered[cut - 1]) == boundary:
        cut -= 1
    return ordered[:cut], ordered[cut:]


def split_time(start: float, end: float, holdout_fraction: float) -> float:
    """The instant that splits ``[start, end]`` so the last ``holdout_fraction`` is held out."""
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), not {holdout_fraction}")
    return end - (end - start) * holdout_fraction
