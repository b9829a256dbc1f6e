"""The guardrails' decisions, pure: may a run take its target's lock, is the action within the
rate limit, what did the approver say.

The controller (``naksha.controllers.agentrun.guardrails``) reads the target and the lock's
holder and writes the annotations these functions return; every refusal is a ``Refusal`` with a
``Reason``, which the engine turns into a ``Refused`` run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from naksha.errors import NakshaError
from naksha.models import timestamps
from naksha.models.agentrun import Approval
from naksha.models.common import parse_duration
from naksha.models.conditions import Reason
from naksha.models.labels import AGENT_RUN_LOCK, APPROVAL, RECENT_ACTIONS

LOCK = AGENT_RUN_LOCK  # the run acting on a target
__all__ = [
    "APPROVAL",
    "LOCK",
    "RECENT_ACTIONS",
    "RateLimit",
    "Refusal",
    "approval",
    "lock_annotations",
    "recent_actions",
]


class Refusal(NakshaError):
    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RateLimit:
    actions: int  # at most this many actions on one target…
    window: float  # …within this many seconds


def lock_annotations(
    annotations: Mapping[str, str],
    *,
    me: str,
    holder_running: bool,
    now: float,
    limit: RateLimit,
    key: str,
    what: str,
) -> dict[str, str]:
    """The target's lock and recent-actions annotations after this action, or a ``Refusal``.

    ``holder_running``: whether the run named in the lock (if another) is still running; ``key``
    is the action's idempotency key (a replayed action is not counted again); ``what`` names the
    target in messages.
    """
    holder = annotations.get(LOCK)
    if holder and holder != me and holder_running:
        raise Refusal(Reason.TARGET_BUSY, f"{what} is being acted on by AgentRun {holder}")
    recent = {
        action: at
        for action, at in recent_actions(annotations.get(RECENT_ACTIONS)).items()
        if now - at < limit.window
    }
    if not key or key not in recent:  # a replay of a counted action is not counted again
        if len(recent) >= limit.actions:
            raise Refusal(
                Reason.RATE_LIMITED,
                f"{what} had {len(recent)} actions in the last {limit.window:.0f}s (limit {limit.actions})",
            )
        recent[key or f"{me}@{now:.3f}"] = round(now, 3)
    return {LOCK: me, RECENT_ACTIONS: json.dumps(recent, sort_keys=True)}


def recent_actions(raw: str | None) -> dict[str, float]:
    """Action key -> time. A list of bare timestamps (written before keys were) keeps counting."""
    try:
        values = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if isinstance(values, list):
        values = {f"earlier-{i}": v for i, v in enumerate(values)}
    if not isinstance(values, dict):
        return {}
    return {str(k): float(v) for k, v in values.items() if isinstance(v, int | float)}


def approval(
    annotations: Mapping[str, str], spec: Approval, started_at: str | None, now: float
) -> Literal["approved", "rejected", "pending", "expired"]:
    """The approver's verdict (an annotation on the run), or whether the wait for one expired."""
    verdict = (annotations.get(APPROVAL) or "").strip().lower()
    if verdict in ("approved", "rejected"):
        return "approved" if verdict == "approved" else "rejected"
    if started_at:
        started = timestamps.to_seconds(started_at)
        if now - started > parse_duration(spec.timeout):
            return "expired"
    return "pending"
