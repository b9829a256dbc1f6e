"""Promotion rules as pure decisions: the verdict on a trained version, promote or wait, demote.

A version's **verdict** comes from its holdout metrics: ``InsufficientData`` when it trained on
fewer than ``minSamples`` records (or the holdout is empty), ``BelowThreshold`` when a metric of
``spec.evaluation`` misses its threshold (an undefined figure misses), ``NoImprovement`` when
``requireImprovement`` is set and it does not beat the current alias holder's figure on the same
holdout by ``margin`` on the first metric, else ``Passed``. Then ``policy: auto`` promotes a
passed version; ``manual`` waits for ``naksha model promote``, which refuses a version without a
passed verdict unless forced.

**Auto-demote** compares the live figures of the promoted version (resolved rate of runs it
chose, or the share of its detectors' anomalies labelled false positive) with its predecessor's:
after ``minUses`` uses, a drop past ``margin`` moves the alias back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from naksha.domain.learning.metrics import better


class Verdict(enum.StrEnum):
    PASSED = "Passed"
    INSUFFICIENT_DATA = "InsufficientData"
    BELOW_THRESHOLD = "BelowThreshold"
    NO_IMPROVEMENT = "NoImprovement"


@dataclass(frozen=True, slots=True)
class Threshold:
    name: str
    threshold: float
    direction: Literal["atLeast", "atMost"] = "atLeast"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    value: float | None
    threshold: float
    direction: str
    passed: bool


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    message: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASSED


def check(metrics: Mapping[str, float | None], threshold: Threshold) -> Check:
    value = metrics.get(threshold.name)
    if value is None:
        passed = False
    elif threshold.direction == "atLeast":
        passed = value >= threshold.threshold
    else:
        passed = value <= threshold.threshold
    return Check(threshold.name, value, threshold.threshold, threshold.direction, passed)


def judge(
    metrics: Mapping[str, float | None],
    holder_metrics: Mapping[str, float | None] | None,
    thresholds: Sequence[Threshold],
    *,
    samples: int,
    holdout: int,
    min_samples: int,
    require_improvement: bool,
    margin: float,
    primary: str,
) -> Judgement:
    """The verdict on one trained version (see the module docstring for the order of the rules)."""
    if samples < min_samples or holdout == 0:
        return Judgement(
            Verdict.INSUFFICIENT_DATA,
            f"{samples} usable records ({holdout} held out); at least {min_samples} are needed",
        )
    checks = [check(metrics, t) for t in thresholds]
    failed = [c for c in checks if not c.passed]
    if failed:
        text = ", ".join(f"{c.name}={_show(c.value)} ({c.direction} {c.threshold})" for c in failed)
        return Judgement(Verdict.BELOW_THRESHOLD, f"below threshold: {text}", checks)
    if require_improvement and holder_metrics is not None:
        mine, theirs = metrics.get(primary), holder_metrics.get(primary)
        if not better(primary, mine, theirs, margin):
            return Judgement(
                Verdict.NO_IMPROVEMENT,
                f"{primary}={_show(mine)} does not beat the alias holder's {_show(theirs)} by {margin}",
                checks,
            )
    return Judgement(
        Verdict.PASSED,
        "every threshold holds" + (" and it beats the holder" if holder_metrics else ""),
        checks,
    )


Action = Literal["promote", "await-approval", "keep"]


def promotion_action(policy: str, judgement: Judgement, *, holds_alias: bool) -> Action:
    """What the operator does with a judged version."""
    if holds_alias or not judgement.passed:
        return "keep"
    return "promote" if policy == "auto" else "await-approval"


def may_promote_manually(judgement_verdict: str | None, *, force: bool) -> tuple[bool, str]:
    """``naksha model promote``: a version needs a passed verdict (``--force`` overrides)."""
    if force:
        return True, "forced"
    if judgement_verdict == Verdict.PASSED:
        return True, "verdict passed"
    return (
        False,
        f"the version's verdict is {judgement_verdict or 'not yet known'}; use --force to promote anyway",
    )


@dataclass(frozen=True, slots=True)
class LiveFigures:
    uses: int  # runs that used the version, or anomalies its detectors raised
    good: int  # of which resolved (ranker) or confirmed incidents (tuner)

    @property
    def rate(self) -> float | None:
        return self.good / self.uses if self.uses else None


def should_demote(current: LiveFigures, predecessor: LiveFigures, *, min_uses: int, margin: float) -> bool:
    """Whether the promoted version did worse live than the one it replaced, on enough uses."""
    if current.uses < min_uses or predecessor.uses < min_uses:
        return False
    now, before = current.rate, predecessor.rate
    return now is not None and before is not None and now < before - margin


def _show(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4g}"
