"""Judging probe readings: is the system in its steady state, should the run abort.

The controller reads (an object, an HTTP answer, a Prometheus value, an InsightStream's status);
these functions say whether the reading meets the probe, with a message a user can act on.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_COMPARISON = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE]-?[0-9]+)?)\s*$")
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
PHASES_OF_MODE = {
    "before": frozenset({"before"}),
    "after": frozenset({"after"}),
    "before-after": frozenset({"before", "after"}),
    "continuous": frozenset({"before", "during", "after"}),
}


@dataclass(frozen=True)
class ProbeResult:
    name: str
    ok: bool
    message: str


def applies(mode: str, phase: str) -> bool:
    """Whether a probe of ``mode`` is checked in ``phase`` (before, during, after)."""
    return phase in PHASES_OF_MODE.get(mode, frozenset())


def all_ok(results: Iterable[ProbeResult]) -> ProbeResult | None:
    """The first failing result, or None when every probe held."""
    return next((result for result in results if not result.ok), None)


def judge_workload(name: str, obj: Mapping[str, Any] | None, min_available: int | None) -> ProbeResult:
    """A Deployment or Rollout is steady with enough available replicas (default: all it wants, ≥ 1)."""
    if obj is None:
        return ProbeResult(name, False, "the object does not exist")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    wanted = int(spec.get("replicas", 1) or 0)
    needed = min_available if min_available is not None else max(wanted, 1)
    available = int(status.get("availableReplicas") or 0)
    ok = available >= needed
    return ProbeResult(name, ok, f"{available} available of {needed} needed (spec.replicas {wanted})")


def judge_pod(name: str, obj: Mapping[str, Any] | None) -> ProbeResult:
    if obj is None:
        return ProbeResult(name, False, "the pod does not exist")
    phase = (obj.get("status") or {}).get("phase") or "Unknown"
    return ProbeResult(name, phase == "Running", f"pod phase {phase}")


def judge_http(
    name: str,
    status: int | None,
    latency: float,
    expect_status: int,
    max_latency: float | None,
    error: str = "",
) -> ProbeResult:
    if status is None:
        return ProbeResult(name, False, f"no answer: {error}")
    if status != expect_status:
        return ProbeResult(name, False, f"answered {status}, expected {expect_status}")
    if max_latency is not None and latency > max_latency:
        return ProbeResult(name, False, f"answered in {latency:.3f}s, more than {max_latency:.3f}s")
    return ProbeResult(name, True, f"answered {status} in {latency:.3f}s")


def parse_comparison(condition: str) -> tuple[str, float]:
    """``'< 0.5'`` → ('<', 0.5); ValueError with the expected form otherwise."""
    found = _COMPARISON.match(condition)
    if not found:
        raise ValueError(f"condition {condition!r} must be an operator and a number, e.g. '< 0.5'")
    return found.group(1), float(found.group(2))


def judge_metric(name: str, value: float | None, condition: str, tolerance: float | None) -> ProbeResult:
    if value is None:
        return ProbeResult(name, False, "the query returned no value")
    op, bound = parse_comparison(condition)
    slack = tolerance or 0.0
    if op in ("<", "<="):
        bound += slack
    elif op in (">", ">="):
        bound -= slack
    elif slack and op == "==":
        ok = abs(value - bound) <= slack
        return ProbeResult(
            name, ok, f"value {value:g} {'within' if ok else 'outside'} {slack:g} of {bound:g}"
        )
    ok = _OPERATORS[op](value, bound)
    return ProbeResult(name, ok, f"value {value:g} {'meets' if ok else 'fails'} {condition}")


def judge_insight(name: str, stream_status: Mapping[str, Any] | None, detector: str) -> ProbeResult:
    """Steady while the detector has no open incident (``status.detectors[d].active`` is 0)."""
    if stream_status is None:
        return ProbeResult(name, False, "the InsightStream does not exist")
    state = (stream_status.get("detectors") or {}).get(detector)
    if state is None:
        return ProbeResult(name, False, f"detector {detector} has reported nothing yet")
    active = int(state.get("active") or 0)
    return ProbeResult(name, active == 0, f"detector {detector} has {active} open incident(s)")
