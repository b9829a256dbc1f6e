"""The playbook ranker: per context, how likely each playbook resolves and how fast, with exploration.

Each (context, playbook) pair keeps a Beta posterior over its resolve probability. A context's
prior is centred on the playbook's resolve rate across every context, with ``prior_strength``
pseudo-runs, so a context seen rarely borrows from the rest and a playbook never seen anywhere
starts at an even chance. ``choose`` draws one sample per candidate from its posterior and takes
the highest (Thompson sampling): a playbook with few runs has a wide posterior and gets tried, and
exploration fades as evidence grows. ``best`` is the greedy choice (the highest posterior mean),
which the offline evaluation scores.

Offline evaluation (``evaluate``) is **replay on logged choices** (Li et al., 2011): walk the
holdout in time order; where the policy's choice equals the playbook the run actually tried, the
run's result counts, otherwise the run is skipped. It is unbiased when the logged choices were
uniformly random among the candidates. When every holdout record carries the ``propensity`` with
which its playbook was chosen, the estimate is **IPS** instead (each matching run weighted by
1/propensity), unbiased for any logging policy with full support. ``EvaluationResult.method``
says which was used, and ``matched`` how many runs the figure rests on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from naksha.domain.learning.outcomes import Outcome

DEFAULT_CONTEXT = ("detector", "targetKind")
DEFAULT_PRIOR_STRENGTH = 2.0


@dataclass(slots=True)
class Arm:
    """What one playbook did in one context: resolved and unresolved runs, and recovery times."""

    resolved: int = 0
    unresolved: int = 0
    recover_total: float = 0.0
    recover_count: int = 0

    def add(self, outcome: Outcome) -> None:
        if outcome.resolved:
            self.resolved += 1
            if outcome.time_to_recover is not None:
                self.recover_total += outcome.time_to_recover
                self.recover_count += 1
        else:
            self.unresolved += 1

    @property
    def runs(self) -> int:
        return self.resolved + self.unresolved

    def dump(self) -> list[float]:
        return [self.resolved, self.unresolved, round(self.recover_total, 6), self.recover_count]

    @classmethod
    def load(cls, values: Sequence[Any]) -> Arm:
        resolved, unresolved, total, count = values
        return cls(int(resolved), int(unresolved), float(total), int(count))


@dataclass(frozen=True, slots=True)
class Ranked:
    playbook: str
    probability: float  # posterior mean of resolving
    runs: int  # runs of this playbook in this context
    expected_recovery_seconds: float | None


@dataclass
class PlaybookRanker:
    context_fields: tuple[str, ...] = DEFAULT_CONTEXT
    prior_strength: float = DEFAULT_PRIOR_STRENGTH
    candidates: tuple[str, ...] = ()
    arms: dict[str, dict[str, Arm]] = field(default_factory=dict)
    overall: dict[str, Arm] = field(default_factory=dict)

    def fit(self, outcomes: Iterable[Outcome]) -> PlaybookRanker:
        seen = list(self.candidates)
        for outcome in outcomes:
            context = outcome.context(self.context_fields)
            self.arms.setdefault(context, {}).setdefault(outcome.playbook, Arm()).add(outcome)
            self.overall.setdefault(outcome.playbook, Arm()).add(outcome)
            if outcome.playbook not in seen:
                seen.append(outcome.playbook)
        self.candidates = tuple(seen)
        return self

    def posterior(self, context: str, playbook: str) -> tuple[float, float]:
        """Beta(alpha, beta) of the playbook resolving in this context."""
        whole = self.overall.get(playbook) or Arm()
        base = (whole.resolved + 1) / (whole.runs + 2)
        arm = (self.arms.get(context) or {}).get(playbook) or Arm()
        return (
            1.0 + self.prior_strength * base + arm.resolved,
            1.0 + self.prior_strength * (1 - base) + arm.unresolved,
        )

    def rank(self, context: str, candidates: Sequence[str] | None = None) -> list[Ranked]:
        """Candidates by posterior mean, best first (ties keep the candidates' order)."""
        ranked = []
        for playbook in candidates or self.candidates:
            alpha, beta = self.posterior(context, playbook)
            arm = (self.arms.get(context) or {}).get(playbook) or Arm()
            whole = self.overall.get(playbook) or Arm()
            source = arm if arm.recover_count else whole
            recovery = source.recover_total / source.recover_count if source.recover_count else None
            ranked.append(Ranked(playbook, alpha / (alpha + beta), arm.runs, recovery))
        return sorted(ranked, key=lambda r: -r.probability)

    def best(self, context: str, candidates: Sequence[str] | None = None) -> str | None:
        ranked = self.rank(context, candidates)
        return ranked[0].playbook if ranked else None

    def choose(self, context: str, candidates: Sequence[str], rng: random.Random) -> str:
        """Thompson sampling: one draw per candidate from its posterior; the highest draw wins."""
        if not candidates:
            raise ValueError("no candidate playbook to choose from")
        draws = [(rng.betavariate(*self.posterior(context, playbook)), playbook) for playbook in candidates]
        return max(draws, key=lambda d: d[0])[1]

    def choice_probabilities(
        self, context: str, candidates: Sequence[str], rng: random.Random, draws: int = 400
    ) -> dict[str, float]:
        """How often ``choose`` would pick each candidate (estimated), recorded as the propensity."""
        counts = dict.fromkeys(candidates, 0)
        for _ in range(draws):
            counts[self.choose(context, candidates, rng)] += 1
        return {playbook: count / draws for playbook, count in counts.items()}

    def to_artifact(self) -> dict[str, Any]:
        return {
            "algorithm": "playbook-ranker",
            "contextFields": list(self.context_fields),
            "priorStrength": self.prior_strength,
            "candidates": list(self.candidates),
            "overall": {playbook: arm.dump() for playbook, arm in sorted(self.overall.items())},
            "arms": {
                context: {playbook: arm.dump() for playbook, arm in sorted(arms.items())}
                for context, arms in sorted(self.arms.items())
            },
        }

    @classmethod
    def from_artifact(cls, data: Mapping[str, Any]) -> PlaybookRanker:
        """The ranker an artifact describes; ``ValueError`` when it is not a ranker's artifact."""
        if data.get("algorithm") != "playbook-ranker":
            raise ValueError(f"artifact is for {data.get('algorithm')!r}, not playbook-ranker")
        try:
            return cls(
                context_fields=tuple(str(f) for f in data["contextFields"]),
                prior_strength=float(data["priorStrength"]),
                candidates=tuple(str(c) for c in data["candidates"]),
                overall={str(p): Arm.load(v) for p, v in data["overall"].items()},
                arms={
                    str(c): {str(p): Arm.load(v) for p, v in arms.items()} for c, arms in data["arms"].items()
                },
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"malformed playbook-ranker artifact: {error!r}") from None


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    method: str  # "replay" or "ips"
    matched: int  # holdout runs whose logged playbook the policy chose
    total: int
    resolved_rate: float | None
    mttr_seconds: float | None

    def as_metrics(self) -> dict[str, float | None]:
        return {"resolved-rate": self.resolved_rate, "mttr-seconds": self.mttr_seconds}


Policy = Callable[[Outcome], str | None]


def evaluate(policy: Policy, holdout: Sequence[Outcome]) -> EvaluationResult:
    """Replay (or IPS, when every record has a propensity) of ``policy`` on logged choices."""
    ips = bool(holdout) and all(o.propensity is not None for o in holdout)
    matched = [o for o in holdout if policy(o) == o.playbook]
    recoveries = [o.time_to_recover for o in matched if o.resolved and o.time_to_recover is not None]
    mttr = sum(recoveries) / len(recoveries) if recoveries else None
    if ips:
        weighted = sum(1.0 / o.propensity for o in matched if o.resolved and o.propensity)
        # IPS may exceed 1 on a finite sample; a rate above 1 means nothing, so it is clipped.
        return EvaluationResult("ips", len(matched), len(holdout), min(1.0, weighted / len(holdout)), mttr)
    replayed = sum(o.resolved for o in matched) / len(matched) if matched else None
    return EvaluationResult("replay", len(matched), len(holdout), replayed, mttr)


def ranker_policy(ranker: PlaybookRanker) -> Policy:
    """The ranker's greedy choice among the playbooks it knows, for evaluation."""
    return lambda outcome: ranker.best(outcome.context(ranker.context_fields))


def fixed_policy(playbook: str) -> Policy:
    return lambda _outcome: playbook


def best_fixed_playbook(outcomes: Iterable[Outcome]) -> str | None:
    """The single playbook with the highest resolve rate over the training runs."""
    arms: dict[str, Arm] = {}
    for outcome in outcomes:
        arms.setdefault(outcome.playbook, Arm()).add(outcome)
    if not arms:
        return None
    return max(arms, key=lambda p: ((arms[p].resolved + 1) / (arms[p].runs + 2), p))


def oracle_policy(holdout: Sequence[Outcome], context_fields: Sequence[str]) -> Policy:
    """Per context, the playbook that did best on the holdout itself (an upper bound, not a model)."""
    ranker = PlaybookRanker(tuple(context_fields), prior_strength=0.0).fit(holdout)
    return ranker_policy(ranker)
