"""The node proxy serving ClusterIPs an API server already gave (the real backend's node agent)."""

from __future__ import annotations

import random
from typing import Any

from tests.support import free_port

from naksha.local.network import NodeNetwork, ServiceProxy


def service(name: str, cluster_ip: str | None, port: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app": name}, "ports": [{"port": port, "protocol": "TCP"}]}
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    return {"metadata": {"namespace": "default", "name": name}, "spec": spec}


def an_address() -> str:
    # A corner of the real backend's Service blocks that no control plane of this machine uses now.
    return f"127.102.{random.randrange(256)}.{random.randrange(200, 250)}"


def no_endpoints(_namespace: str, _name: str, _port: dict[str, Any]) -> list[tuple[str, int]]:
    return []


async def test_the_given_cluster_ip_is_served_and_never_another() -> None:
    proxy = ServiceProxy(NodeNetwork(isolate=False), no_endpoints)
    address, port = an_address(), free_port()
    try:
        assert await proxy.serve(service("web", address, port), allocate=False) == address
        assert proxy.address_of("default", "web") == address
    finally:
        await proxy.close()


async def test_a_cluster_ip_held_by_another_node_is_not_served() -> None:
    first = ServiceProxy(NodeNetwork(isolate=False), no_endpoints)
    second = ServiceProxy(NodeNetwork(isolate=False), no_endpoints)
    address, port = an_address(), free_port()
    try:
        assert await first.serve(service("web", address, port), allocate=False) == address
        assert await second.serve(service("web", address, port), allocate=False) is None
        assert second.address_of("default", "web") is None
    finally:
        await first.close()
        await second.close()


async def test_a_service_without_a_cluster_ip_yet_is_not_given_one() -> None:
    proxy = ServiceProxy(NodeNetwork(isolate=False), no_endpoints)
    try:
        assert await proxy.serve(service("web", None, free_port()), allocate=False) is None
        assert await proxy.serve(service("web", "None", free_port()), allocate=False) is None
    finally:
        await proxy.close()


async def test_a_changed_cluster_ip_moves_the_listener() -> None:
    proxy = ServiceProxy(NodeNetwork(isolate=False), no_endpoints)
    old, port = an_address(), free_port()
    new = old.rsplit(".", 1)[0] + f".{int(old.rsplit('.', 1)[1]) + 1}"
    try:
        await proxy.serve(service("web", old, port), allocate=False)
        assert await proxy.serve(service("web", new, port), allocate=False) == new
    finally:
        await proxy.close()
