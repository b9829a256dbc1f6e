"""The hub's registry: who may call, and when a status write is due (never on every heartbeat)."""

from __future__ import annotations

from typing import Any

import pytest

from naksha.domain.federation import tokens
from naksha.domain.federation.refusals import Refused
from naksha.models.labels import BLACKOUT_ANNOTATION
from naksha.services.hub.registry import Registry, stamp

NOW = 1_800_000_000.0
HUB = tokens.generate_key()
NODE_KEY = tokens.generate_key()


def edge(name: str = "edge-1", status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "edge", "generation": 1},
        "spec": {"identity": {"nodeId": name}, "offlineAfter": "40s", **spec},
        "status": status or {},
    }


def registered(registry: Registry, report: dict[str, Any] | None = None) -> None:
    registry.upsert(edge())
    registry.registered(
        registry.nodes["edge-1"], NODE_KEY.public_key(), report or {"capabilities": ["a"]}, NOW
    )


def credential(key: tokens.PrivateKey = NODE_KEY, node: str = "edge-1") -> tokens.Verified:
    token = tokens.mint_node_credential(
        HUB, namespace="edge", node=node, node_key=key.public_key(), ttl=60, now=NOW
    )
    return tokens.verify(token, HUB.public_key(), kind=tokens.NODE, audience=tokens.HUB_AUDIENCE, now=NOW)


class TestStatusWrites:
    def test_registration_is_written_at_once_with_an_event(self) -> None:
        registry = Registry("edge", NOW)
        registered(registry)
        (write,) = registry.tick(NOW)
        assert write.status["lease"] == "Ready" and write.event is not None

    def test_heartbeats_with_changing_load_cause_no_write_before_the_refresh(self) -> None:
        registry = Registry("edge", NOW)
        registered(registry)
        registry.tick(NOW)
        record = registry.nodes["edge-1"]
        writes = []
        for second in range(1, 10):
            registry.heartbeat(record, {"capabilities": ["a"], "load": {"load1": second / 10}}, NOW + second)
            writes += registry.tick(NOW + second)
        assert writes == []
        assert len(registry.tick(NOW + 10)) == 1  # offlineAfter / 4

    def test_a_new_capability_is_written_on_the_next_tick_without_an_event(self) -> None:
        registry = Registry("edge", NOW)
        registered(registry)
        registry.tick(NOW)
        registry.heartbeat(registry.nodes["edge-1"], {"capabilities": ["a", "b"]}, NOW + 1)
        (write,) = registry.tick(NOW + 1)
        assert write.status["capabilities"] == ["a", "b"] and write.event is None

    def test_silence_turns_unknown_once(self) -> None:
        registry = Registry("edge", NOW)
        registered(registry)
        registry.tick(NOW)
        (write,) = registry.tick(NOW + 40)
        assert write.status["lease"] == "Unknown" and write.event is not None
        assert registry.tick(NOW + 41) == []

    def test_a_restarted_hub_keeps_a_ready_node_ready_for_a_full_offline_after(self) -> None:
        status = {"publicKey": tokens.public_pem(NODE_KEY.public_key()), "keyThumbprint": "x"}
        status |= {"lease": "Ready", "lastHeartbeatTime": stamp(NOW - 35)}
        registry = Registry("edge", NOW)
        registry.upsert(edge(status=status))
        assert [w for w in registry.tick(NOW + 39) if w.status["lease"] != "Ready"] == []

    def test_a_quiet_ready_node_revoked_between_refreshes_is_written_at_once(self) -> None:
        registry = Registry("edge", NOW)
        registered(registry)
        registry.tick(NOW)
        registry.upsert(edge(credentials={"revoked": True}))
        (write,) = registry.tick(NOW + 1)
        assert write.status["lease"] == "Revoked"


class TestBlackout:
    def test_a_node_is_blacked_out_only_while_it_holds_the_annotation(self) -> None:
        registry = Registry("edge", NOW)
        registered(registry)
        record = registry.nodes["edge-1"]
        assert not record.blacked_out
        body = edge()
        body["metadata"]["annotations"] = {BLACKOUT_ANNOTATION: "run-token"}
        registry.upsert(body)
        assert record.blacked_out
        registry.upsert(edge())
        assert not record.blacked_out


class TestAuthentication:
    def test_a_registered_node_s_credential_passes(self) -> None:
        registry = Registry("edge", NOW)
        registered(registry)
        assert registry.authenticate(credential()).name == "edge-1"

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"credentials": {"revoked": True}}, "NodeRevoked"),
            ({"approved": False}, "NodeNotApproved"),
        ],
    )
    def test_a_revoked_or_unapproved_node_is_refused(self, change: dict[str, Any], reason: str) -> None:
        registry = Registry("edge", NOW)
        registered(registry)
        registry.upsert(edge(**change))
        with pytest.raises(Refused) as refused:
            registry.authenticate(credential())
        assert refused.value.reason == reason

    def test_a_deleted_node_is_refused(self) -> None:
        registry = Registry("edge", NOW)
        registered(registry)
        registry.remove(edge())
        with pytest.raises(Refused, match="NodeUnknown"):
            registry.authenticate(credential())

    def test_a_credential_bound_to_a_replaced_key_is_refused(self) -> None:
        registry = Registry("edge", NOW)
        registered(registry)
        with pytest.raises(Refused, match="KeyMismatch"):
            registry.authenticate(credential(key=tokens.generate_key()))


def test_what_the_hub_writes_reads_back_as_the_typed_status() -> None:
    from naksha.models.edgenode import EdgeNodeStatus

    registry = Registry("edge", NOW)
    registered(registry, {"capabilities": ["run-command"], "agentVersion": "1.2", "load": {"load1": 0.5}})
    (write,) = registry.tick(NOW)
    status = EdgeNodeStatus.model_validate(write.status)
    assert (status.lease, status.agent_version, status.capabilities) == ("Ready", "1.2", ["run-command"])
    assert [c.type for c in status.conditions] == ["Ready"]
