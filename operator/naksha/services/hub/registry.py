"""The hub's view of its EdgeNodes: fed by a watch, leases kept in memory, status written on transitions.

Heartbeats only touch memory. ``tick`` decides per node (``naksha.domain.federation.lease``)
whether a status write is due: on a Ready/Unknown/Lost transition (with an Event), and for a
Ready node at most every ``offlineAfter / 4`` to refresh ``lastHeartbeatTime``. Each write is an
``EdgeNodeStatus`` with only the hub's fields, guarded by the resourceVersion of the object the
hub last saw, since its ``conditions`` list is written whole: a write that would drop a condition
the operator set meanwhile fails (409) and is made again on the newer object. A revoked or
deleted node is known through the watch within milliseconds, and every authenticated call looks
it up here, so revocation takes effect on the node's next call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from naksha.domain.federation import lease, tokens
from naksha.domain.federation.refusals import RefusalReason, Refused
from naksha.models import timestamps
from naksha.models.common import parse_duration
from naksha.models.conditions import Condition, ConditionType, Reason, set_condition
from naksha.models.edgenode import EdgeNodeSpec, EdgeNodeStatus
from naksha.models.labels import BLACKOUT_ANNOTATION

logger = logging.getLogger(__name__)
REVOKED = "Revoked"


def stamp(moment: float) -> str:
    return timestamps.to_text(moment)


def parse_stamp(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return timestamps.to_seconds(text)
    except ValueError:
        return None


@dataclass
class NodeRecord:
    name: str
    body: dict[str, Any]
    spec: EdgeNodeSpec | None
    policy: lease.LeasePolicy
    key_thumbprint: str | None = None
    public_key: tokens.PublicKey | None = None
    last_heartbeat: float | None = None
    written_state: str | None = None
    last_written: float | None = None
    report: dict[str, Any] = field(default_factory=dict)
    report_changed: bool = False

    @property
    def revoked(self) -> bool:
        return self.spec is None or self.spec.credentials.revoked

    @property
    def blacked_out(self) -> bool:
        """A ChaosExperiment's edge-blackout is in place: heartbeats are refused."""
        return BLACKOUT_ANNOTATION in ((self.body.get("metadata") or {}).get("annotations") or {})

    @property
    def approved(self) -> bool:
        return self.spec is not None and self.spec.approved

    @property
    def schedulable(self) -> bool:
        return self.spec is not None and not self.spec.unschedulable

    @property
    def conditions(self) -> list[dict[str, Any]]:
        return list((self.body.get("status") or {}).get("conditions") or [])


def _quiet(record: NodeRecord, now: float) -> bool:
    """The common case of every tick, decided without building states: a Ready node written lately.

    Every tick looks at every node (a thousand, four times a second), so this check is kept to
    a few comparisons; anything else goes through ``lease`` below.
    """
    assert record.last_heartbeat is not None
    return (
        record.written_state == lease.NodeState.READY
        and not record.report_changed
        and record.last_written is not None
        and now - record.last_heartbeat < record.policy.offline_after
        and now - record.last_written < record.policy.refresh_every
        and not record.revoked
    )


def _spec(body: Mapping[str, Any]) -> EdgeNodeSpec | None:
    try:
        return EdgeNodeSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return None


def _policy(spec: EdgeNodeSpec | None) -> lease.LeasePolicy:
    if spec is None:
        return lease.LeasePolicy(offline_after=120.0, lost_after=3600.0)
    return lease.LeasePolicy(parse_duration(spec.offline_after), parse_duration(spec.lost_after))


@dataclass(frozen=True)
class StatusWrite:
    name: str
    status: dict[str, Any]
    event: tuple[str, Reason, str] | None  # (type, reason, message) on a transition
    resource_version: str | None = None  # of the object the conditions were built from
    previous_state: str | None = None  # what was written before, restored if this write conflicts


class Registry:
    def __init__(self, namespace: str, started: float) -> None:
        self.namespace = namespace
        self.started = started
        self.nodes: dict[str, NodeRecord] = {}

    # --- the watch ------------------------------------------------------------------------------

    def upsert(self, body: dict[str, Any]) -> None:
        name = str((body.get("metadata") or {}).get("name", ""))
        spec = _spec(body)
        status = body.get("status") or {}
        record = self.nodes.get(name)
        if record is None:
            record = NodeRecord(name, body, spec, _policy(spec))
            stored = parse_stamp(status.get("lastHeartbeatTime"))
            if status.get("publicKey"):
                record.last_heartbeat = lease.seeded_heartbeat(stored, status.get("lease"), self.started)
                record.written_state = status.get("lease")
                record.last_written = self.started
            self.nodes[name] = record
        record.body, record.spec, record.policy = body, spec, _policy(spec)
        thumbprint, pem = status.get("keyThumbprint"), status.get("publicKey")
        # Memory wins over an older watched status: the watch may still carry the status from
        # before this hub registered a new key; only a different stored key replaces ours.
        if pem and thumbprint and thumbprint != record.key_thumbprint:
            try:
                record.public_key = tokens.load_public_pem(pem)
                record.key_thumbprint = thumbprint
            except ValueError:
                logger.warning("EdgeNode %s has an unreadable status.publicKey", name)

    def remove(self, body: Mapping[str, Any]) -> None:
        self.nodes.pop(str((body.get("metadata") or {}).get("name", "")), None)

    # --- authentication -------------------------------------------------------------------------

    def authenticate(self, verified: tokens.Verified) -> NodeRecord:
        """The node a verified credential speaks for, if it may still speak; Refused otherwise."""
        if verified.namespace != self.namespace:
            raise Refused(403, RefusalReason.NODE_UNKNOWN, f"credential of namespace {verified.namespace!r}")
        record = self.nodes.get(verified.subject)
        if record is None:
            raise Refused(403, RefusalReason.NODE_UNKNOWN, f"no EdgeNode {verified.subject!r}")
        if record.revoked:
            raise Refused(403, RefusalReason.NODE_REVOKED, f"EdgeNode {record.name} is revoked")
        if not record.approved:
            raise Refused(403, RefusalReason.NODE_NOT_APPROVED, f"EdgeNode {record.name} is not approved")
        bound = (verified.claims.get("cnf") or {}).get("jkt")
        if record.key_thumbprint is None or bound != record.key_thumbprint:
            raise Refused(
                401, RefusalReason.KEY_MISMATCH, "the credential is bound to another key of this node"
            )
        return record

    # --- heartbeats and leases ------------------------------------------------------------------

    def heartbeat(self, record: NodeRecord, report: Mapping[str, Any], now: float) -> None:
        record.last_heartbeat = now
        # A new version or capability set is written on the next tick; load changes all the time
        # and rides along with the periodic refresh only, so it never raises the write rate.
        if any(report.get(key) != record.report.get(key) for key in ("agentVersion", "capabilities")):
            record.report_changed = True
        record.report = dict(report)

    def registered(
        self, record: NodeRecord, key: tokens.PublicKey, report: Mapping[str, Any], now: float
    ) -> None:
        record.public_key = key
        record.key_thumbprint = tokens.thumbprint(key)
        record.last_heartbeat = now
        record.report = dict(report)
        record.written_state = None  # the first status write after registration is due at once

    def tick(self, now: float) -> list[StatusWrite]:
        """The status writes due now (the caller performs them); marks them as written."""
        writes: list[StatusWrite] = []
        for record in self.nodes.values():
            if record.key_thumbprint is None or record.last_heartbeat is None:
                continue
            if _quiet(record, now):
                continue
            state = REVOKED if record.revoked else lease.state_of(record.last_heartbeat, now, record.policy)
            written = record.written_state
            due = record.report_changed or lease.write_due(
                state=lease.NodeState(state) if state != REVOKED else lease.NodeState.LOST,
                written_state=lease.NodeState(written) if written in set(lease.NodeState) else None,
                last_written=record.last_written,
                now=now,
                policy=record.policy,
            )
            if state == REVOKED:
                due = written != REVOKED
            if not due:
                continue
            writes.append(self._status_write(record, state, now))
            record.written_state, record.last_written, record.report_changed = state, now, False
        return writes

    def conflicted(self, write: StatusWrite) -> None:
        """A write refused because the object changed: make it again on the next tick, on the newer object."""
        record = self.nodes.get(write.name)
        if record is not None:
            record.written_state, record.last_written = write.previous_state, None

    def _status_write(self, record: NodeRecord, state: str, now: float) -> StatusWrite:
        ready, reason, message = {
            lease.NodeState.READY: ("True", Reason.HEARTBEAT_RECEIVED, "The node heartbeats."),
            lease.NodeState.UNKNOWN: (
                "Unknown",
                Reason.HEARTBEAT_MISSED,
                f"No heartbeat for {record.policy.offline_after:.0f}s.",
            ),
            lease.NodeState.LOST: (
                "False",
                Reason.NODE_LOST,
                f"No heartbeat for {record.policy.lost_after:.0f}s.",
            ),
            REVOKED: ("False", Reason.NODE_REVOKED, "Its credentials are revoked; every call is refused."),
        }[state]
        conditions = set_condition(
            record.conditions,
            type_=ConditionType.READY,
            status=ready,  # type: ignore[arg-type]
            reason=reason,
            message=message,
            generation=(record.body.get("metadata") or {}).get("generation"),
            now=stamp(now),
        )
        assert record.last_heartbeat is not None
        status = EdgeNodeStatus(
            phase=state,
            lease=state,
            node_id=record.name,
            last_heartbeat_time=stamp(record.last_heartbeat),
            conditions=[Condition.model_validate(c) for c in conditions],
        )
        if "agentVersion" in record.report:
            status.agent_version = record.report["agentVersion"]
        if "capabilities" in record.report:
            status.capabilities = list(record.report["capabilities"])
        if "load" in record.report:
            status.load = dict(record.report["load"])
        transition = state != record.written_state
        event = None
        if transition:
            event = ("Normal" if state == lease.NodeState.READY else "Warning", reason, message)
        version = (record.body.get("metadata") or {}).get("resourceVersion")
        return StatusWrite(record.name, status.wire(), event, version, record.written_state)
