"""The operator's EdgeNode steps: admission, approval, revocation, pending triggers."""

from __future__ import annotations

from typing import Any

from naksha.models.kinds import EDGE_NODE
from naksha.reconcilers import edgenode
from naksha.reconcilers.context import ReconcileContext


class ListingKube:
    def __init__(self, items: int) -> None:
        self.items = items
        self.selectors: list[str | None] = []

    def list(
        self, ref: Any, namespace: str | None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        self.selectors.append(label_selector)
        return [{}] * self.items


def reconcile(
    spec: dict[str, Any], status: dict[str, Any] | None = None, pending: int = 0
) -> ReconcileContext:
    body = {
        "metadata": {"name": "edge-1", "namespace": "edge", "generation": 1},
        "spec": {"identity": {"nodeId": "edge-1"}, **spec},
        "status": status or {},
    }
    context = ReconcileContext.from_body(EDGE_NODE, body, kube=ListingKube(pending))  # type: ignore[arg-type]
    return edgenode.reconcile(context)


def condition(context: ReconcileContext, type_: str) -> dict[str, Any]:
    return next((c for c in context.conditions if c["type"] == type_), {})


def test_an_invalid_spec_is_reported_and_nothing_else_runs() -> None:
    context = reconcile({"offlineAfter": "soon"})
    assert context.phase == "Invalid" and "pendingTriggers" not in context.status_patch()


def test_an_unregistered_node_says_it_waits_for_an_agent() -> None:
    context = reconcile({})
    assert context.phase == "NotRegistered"
    assert condition(context, "Ready")["reason"] == "NotRegistered"


def test_a_node_under_manual_approval_names_the_waiting_key() -> None:
    context = reconcile({"approved": False}, {"pendingKeyThumbprint": "abc"})
    assert context.phase == "AwaitingApproval"
    assert "abc" in condition(context, "AwaitingApproval")["message"]


def test_a_registered_node_keeps_the_hub_s_lease_as_its_phase() -> None:
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "HeartbeatReceived",
        "message": "",
        "lastTransitionTime": "t",
    }
    context = reconcile({}, {"keyThumbprint": "k", "lease": "Ready", "phase": "Ready", "conditions": [ready]})
    assert context.phase == "Ready"
    assert condition(context, "Ready") == ready


def test_revocation_posts_one_event() -> None:
    first = reconcile({"credentials": {"revoked": True}})
    assert [e.reason for e in first.events if e.type == "Warning"] == ["NodeRevoked"]
    assert first.status_patch()["revoked"] is True
    again = reconcile({"credentials": {"revoked": True}}, {"revoked": True})
    assert not [e for e in again.events if e.reason == "NodeRevoked"]


def test_pending_trigger_requests_are_counted_for_this_node() -> None:
    context = reconcile({}, pending=3)
    assert context.status_patch()["pendingTriggers"] == 3
    assert context.kube.selectors == ["naksha.io/edge-trigger=pending,naksha.io/edge-node=edge-1"]  # type: ignore[union-attr]


def test_the_operator_writes_none_of_the_hub_s_fields() -> None:
    hubs = {"keyThumbprint": "k", "lease": "Ready", "lastHeartbeatTime": "t", "capabilities": ["a"]}
    context = reconcile({}, {**hubs, "agentVersion": "1", "load": {"load1": 0.5}, "nodeId": "edge-1"})
    assert set(context.status_patch()) == {
        "phase",
        "observedGeneration",
        "conditions",
        "revoked",
        "pendingTriggers",
    }
