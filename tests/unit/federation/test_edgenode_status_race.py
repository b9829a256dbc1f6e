"""The operator and the hub both write an EdgeNode's status: neither drops the other's conditions.

``conditions`` is one list in a merge patch, so a write built from an older read replaces the
list whole. Both writers guard their write with the resourceVersion they read, and make it again
on the newer object when the other wrote in between.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.fake_kube import FakeKube

from naksha.controllers.edgenode.status import write_status
from naksha.domain.federation import tokens
from naksha.errors import RetryableError
from naksha.kube import Conflict
from naksha.models.edgenode import EdgeNodeStatus
from naksha.models.kinds import EDGE_NODE
from naksha.models.resources import EDGE_NODES
from naksha.reconcilers import edgenode
from naksha.reconcilers.context import ReconcileContext
from naksha.services.hub.registry import Registry
from naksha.services.hub.store import HubStore

NOW = 1_800_000_000.0
NODE_KEY = tokens.generate_key()


def new_node() -> FakeKube:
    return FakeKube(
        {
            "apiVersion": "naksha.io/v1alpha1",
            "kind": "EdgeNode",
            "metadata": {"name": "edge-1", "namespace": "edge"},
            "spec": {"identity": {"nodeId": "edge-1"}, "offlineAfter": "40s"},
        }
    )


def read(kube: FakeKube) -> dict[str, Any]:
    return kube.get(EDGE_NODES, "edge", "edge-1")


def conditions(kube: FakeKube) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in read(kube)["status"].get("conditions") or []}


def hub_registers_and_writes_ready(kube: FakeKube) -> None:
    """The hub's path: the registration's key, then registry tick → StatusWrite → HubStore."""
    store = HubStore(kube, "edge")
    key = NODE_KEY.public_key()
    registration = EdgeNodeStatus(
        public_key=tokens.public_pem(key), key_thumbprint=tokens.thumbprint(key), node_id="edge-1"
    )
    registry = Registry("edge", NOW)
    registry.upsert(store.write_status("edge-1", registration.wire()) or {})
    registry.registered(registry.nodes["edge-1"], key, {"capabilities": ["a"]}, NOW)
    (write,) = registry.tick(NOW)
    store.write_status(write.name, write.status, write.resource_version)


def operator_pass(kube: FakeKube, body: dict[str, Any]) -> None:
    """The EdgeNode handler's pass: reconcile what was read, write guarded by its resourceVersion."""
    context = edgenode.reconcile(ReconcileContext.from_body(EDGE_NODE, body, kube=kube))
    write_status(kube, "edge", "edge-1", body["metadata"]["resourceVersion"], context.status_patch())


class TestTheOperatorPass:
    def test_a_pass_over_an_older_read_does_not_write_over_the_hub_s_ready(self) -> None:
        kube = new_node()
        before_the_hub = read(kube)  # the operator's pass reads the node: no Ready yet
        hub_registers_and_writes_ready(kube)
        with pytest.raises(RetryableError, match="changed while it was reconciled"):
            operator_pass(kube, before_the_hub)
        assert conditions(kube)["Ready"]["status"] == "True"
        assert conditions(kube)["Ready"]["reason"] == "HeartbeatReceived"

    def test_the_retried_pass_keeps_the_hub_s_ready_and_adds_its_own_conditions(self) -> None:
        kube = new_node()
        before_the_hub = read(kube)
        hub_registers_and_writes_ready(kube)
        with pytest.raises(RetryableError):
            operator_pass(kube, before_the_hub)
        operator_pass(kube, read(kube))  # kopf retries the handler on the newer object
        assert conditions(kube)["Ready"]["reason"] == "HeartbeatReceived"
        assert conditions(kube)["Accepted"]["status"] == "True"
        status = read(kube)["status"]
        assert status["phase"] == "Ready" and status["lease"] == "Ready" and status["capabilities"] == ["a"]

    def test_a_pass_on_an_unchanged_node_writes_at_once(self) -> None:
        kube = new_node()
        operator_pass(kube, read(kube))
        assert conditions(kube)["Ready"]["reason"] == "NotRegistered"
        assert kube.writes == [("patch", "edgenodes", "edge-1", "status")]

    def test_a_node_deleted_during_the_pass_is_not_an_error(self) -> None:
        kube = new_node()
        body = read(kube)
        kube.delete(EDGE_NODES, "edge", "edge-1")
        operator_pass(kube, body)


class TestTheHubsWrite:
    def test_a_lease_write_over_an_older_read_is_refused_and_made_again_on_the_newer_object(self) -> None:
        kube = new_node()
        store = HubStore(kube, "edge")
        registry = Registry("edge", NOW)
        registry.upsert(read(kube))  # the hub's watch saw the node before the operator admitted it
        registry.registered(registry.nodes["edge-1"], NODE_KEY.public_key(), {"capabilities": ["a"]}, NOW)
        operator_pass(kube, read(kube))  # Accepted, and Ready Unknown/NotRegistered
        (stale,) = registry.tick(NOW)
        with pytest.raises(Conflict):
            store.write_status(stale.name, stale.status, stale.resource_version)
        registry.conflicted(stale)
        registry.upsert(read(kube))  # the watch brings the operator's write
        (again,) = registry.tick(NOW + 1)
        assert again.event is not None  # the transition to Ready still gets its Event
        store.write_status(again.name, again.status, again.resource_version)
        assert conditions(kube)["Accepted"]["status"] == "True"
        assert conditions(kube)["Ready"]["reason"] == "HeartbeatReceived"

    def test_the_hub_writes_only_its_own_fields(self) -> None:
        registry = Registry("edge", NOW)
        registry.upsert(
            {
                "metadata": {"name": "edge-1", "namespace": "edge", "resourceVersion": "7"},
                "spec": {"identity": {"nodeId": "edge-1"}},
                "status": {"revoked": False, "pendingTriggers": 2},
            }
        )
        registry.registered(registry.nodes["edge-1"], NODE_KEY.public_key(), {"agentVersion": "1"}, NOW)
        (write,) = registry.tick(NOW)
        assert write.resource_version == "7"
        assert set(write.status) == {
            "phase",
            "lease",
            "nodeId",
            "lastHeartbeatTime",
            "conditions",
            "agentVersion",
        }
