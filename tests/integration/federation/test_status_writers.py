"""The operator and the hub write one EdgeNode status on the API server; neither drops the other's.

The guard is the API server's: a status merge patch carrying an older resourceVersion is refused
with 409, so a write built from an older read cannot replace the newer ``conditions`` list.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from naksha.controllers.edgenode.status import write_status
from naksha.domain.federation import tokens
from naksha.errors import RetryableError
from naksha.kube import Conflict, Kube
from naksha.models.edgenode import EdgeNodeStatus
from naksha.models.group import API_VERSION
from naksha.models.kinds import EDGE_NODE
from naksha.models.resources import EDGE_NODES
from naksha.reconcilers import edgenode
from naksha.reconcilers.context import ReconcileContext
from naksha.services.hub.registry import Registry
from naksha.services.hub.store import HubStore

NODE_KEY = tokens.generate_key()


@pytest.fixture
def node(naksha_crds: None, api_client: client.ApiClient, fresh_namespace: str) -> tuple[Kube, str]:
    kube = Kube(api_client)
    kube.create(
        {
            "apiVersion": API_VERSION,
            "kind": "EdgeNode",
            "metadata": {"name": "edge-1", "namespace": fresh_namespace},
            "spec": {"identity": {"nodeId": "edge-1"}, "offlineAfter": "40s"},
        }
    )
    return kube, fresh_namespace


def read(kube: Kube, namespace: str) -> dict[str, Any]:
    return kube.get(EDGE_NODES, namespace, "edge-1")


def conditions(kube: Kube, namespace: str) -> dict[str, str]:
    return {c["type"]: c["reason"] for c in read(kube, namespace)["status"].get("conditions") or []}


def operator_pass(kube: Kube, body: dict[str, Any]) -> None:
    context = edgenode.reconcile(ReconcileContext.from_body(EDGE_NODE, body, kube=kube))
    namespace = body["metadata"]["namespace"]
    write_status(kube, namespace, "edge-1", body["metadata"]["resourceVersion"], context.status_patch())


def hub_with_a_registered_node(kube: Kube, namespace: str, seen: dict[str, Any]) -> tuple[Registry, HubStore]:
    store = HubStore(kube, namespace)
    key = NODE_KEY.public_key()
    registration = EdgeNodeStatus(
        public_key=tokens.public_pem(key), key_thumbprint=tokens.thumbprint(key), node_id="edge-1"
    )
    registry = Registry(namespace, 1_800_000_000.0)
    registry.upsert(seen)
    registry.upsert(store.write_status("edge-1", registration.wire()) or {})
    registry.registered(registry.nodes["edge-1"], key, {"capabilities": ["a"]}, 1_800_000_000.0)
    return registry, store


def test_the_operator_s_pass_over_an_older_read_leaves_the_hub_s_ready(node: tuple[Kube, str]) -> None:
    kube, namespace = node
    before_the_hub = read(kube, namespace)
    registry, store = hub_with_a_registered_node(kube, namespace, before_the_hub)
    (write,) = registry.tick(1_800_000_000.0)
    store.write_status(write.name, write.status, write.resource_version)
    with pytest.raises(RetryableError):
        operator_pass(kube, before_the_hub)
    assert conditions(kube, namespace) == {"Ready": "HeartbeatReceived"}
    operator_pass(kube, read(kube, namespace))  # the retry, on the newer object
    assert conditions(kube, namespace) == {"Ready": "HeartbeatReceived", "Accepted": "SpecValid"}
    assert read(kube, namespace)["status"]["phase"] == "Ready"


def test_the_hub_s_write_over_an_older_read_leaves_the_operator_s_conditions(node: tuple[Kube, str]) -> None:
    kube, namespace = node
    registry, store = hub_with_a_registered_node(kube, namespace, read(kube, namespace))
    operator_pass(kube, read(kube, namespace))  # written after the hub last saw the node
    (stale,) = registry.tick(1_800_000_000.0)
    with pytest.raises(Conflict):
        store.write_status(stale.name, stale.status, stale.resource_version)
    registry.conflicted(stale)
    registry.upsert(read(kube, namespace))  # what the hub's watch brings
    (again,) = registry.tick(1_800_000_001.0)
    store.write_status(again.name, again.status, again.resource_version)
    assert conditions(kube, namespace) == {"Accepted": "SpecValid", "Ready": "HeartbeatReceived"}
