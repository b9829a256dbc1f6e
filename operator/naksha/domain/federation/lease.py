"""An edge node's lease: Ready, Unknown or Lost from its last heartbeat, and when to write status.

In the spirit of Open Cluster Management's cluster lease: the node renews by heartbeating; the
hub keeps the lease in memory and only decides. A node is Ready while its last heartbeat is
younger than ``offlineAfter``, Unknown after that, Lost after ``lostAfter``. Status is written on
a transition and otherwise at most every ``offlineAfter / 4`` (so the stored last heartbeat is
never older than a quarter of the grace a restarted hub gives), never on every heartbeat.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

WRITE_FRACTION = 4.0


class NodeState(enum.StrEnum):
    READY = "Ready"
    UNKNOWN = "Unknown"
    LOST = "Lost"


@dataclass(frozen=True)
class LeasePolicy:
    offline_after: float
    lost_after: float

    @property
    def refresh_every(self) -> float:
        return self.offline_after / WRITE_FRACTION


def state_of(last_heartbeat: float, now: float, policy: LeasePolicy) -> NodeState:
    silence = now - last_heartbeat
    if silence >= policy.lost_after:
        return NodeState.LOST
    if silence >= policy.offline_after:
        return NodeState.UNKNOWN
    return NodeState.READY


def write_due(
    *,
    state: NodeState,
    written_state: NodeState | None,
    last_written: float | None,
    now: float,
    policy: LeasePolicy,
) -> bool:
    """Whether to write the node's status now: a transition, or a Ready lease's periodic refresh."""
    if state != written_state or last_written is None:
        return True
    return state == NodeState.READY and now - last_written >= policy.refresh_every


def seeded_heartbeat(stored_heartbeat: float | None, stored_state: str | None, hub_started: float) -> float:
    """The last heartbeat a restarted hub assumes for a node it knew (status) but has not heard yet.

    The hub cannot know whether a Ready node went quiet while the hub was down, so a node stored
    Ready gets one full ``offlineAfter`` from the hub's start before it can turn Unknown: no
    flapping on restart. A node stored Unknown or Lost keeps its stored heartbeat (and its state).
    """
    if stored_heartbeat is None:
        return hub_started
    if stored_state == NodeState.READY:
        return max(stored_heartbeat, hub_started)
    return stored_heartbeat
