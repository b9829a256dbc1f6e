"""Which candidates a run injects into (modes one/all/fixed/fixed-percent/random-max-percent),
and whether that choice stays inside the experiment's blast radius."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


class SelectionError(ValueError):
    """No valid selection: no candidates, or more than the blast radius allows."""


def selection_size(mode: str, value: int | None, candidates: int, rng: random.Random) -> int:
    """How many of ``candidates`` the mode selects (0 only when there are none)."""
    if candidates == 0:
        return 0
    if mode == "one":
        return 1
    if mode == "all":
        return candidates
    if mode == "fixed":
        return min(int(value or 1), candidates)
    if mode == "fixed-percent":
        # At least one: a percentage that rounds to nothing would make the experiment a no-op.
        return max(1, min(candidates, math.floor(candidates * int(value or 0) / 100)))
    if mode == "random-max-percent":
        most = max(1, math.floor(candidates * int(value or 0) / 100))
        return rng.randint(1, min(most, candidates))
    raise SelectionError(f"unknown target mode {mode!r}")


def select_targets(
    candidates: Sequence[str], mode: str, value: int | None, *, rng: random.Random | None = None
) -> list[str]:
    """The chosen names, in candidate order; SelectionError when nothing matches."""
    if not candidates:
        raise SelectionError("no object matches the target selector")
    chooser = rng or random.Random()
    ordered = sorted(candidates)
    count = selection_size(mode, value, len(ordered), chooser)
    return sorted(chooser.sample(ordered, count))


@dataclass(frozen=True)
class BlastRadius:
    max_targets: int | None = None
    max_percent: int | None = None


def check_blast_radius(selected: int, candidates: int, limits: BlastRadius) -> str | None:
    """Why the selection is too large, or None when it is within the limits."""
    if limits.max_targets is not None and selected > limits.max_targets:
        return f"{selected} targets selected, blastRadius.maxTargets is {limits.max_targets}"
    if limits.max_percent is not None and candidates and selected * 100 > limits.max_percent * candidates:
        share = selected * 100 / candidates
        limit = limits.max_percent
        return f"{selected} of {candidates} targets ({share:.0f}%) exceed blastRadius.maxPercent {limit}%"
    return None


def selector_string(
    match_labels: dict[str, str], expressions: Sequence[tuple[str, str, Sequence[str]]]
) -> str:
    """A label selector in the API's query syntax (``app=web,tier in (a,b),!canary``)."""
    parts = [f"{key}={value}" for key, value in sorted(match_labels.items())]
    for key, op, values in expressions:
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)
