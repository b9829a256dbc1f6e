"""Pure parts of pod networking: address allocation, endpoint choice, host endpoints a pod names."""

from __future__ import annotations

import fcntl
import ipaddress
from pathlib import Path
from typing import Any

import pytest

from naksha.local.network import addresses
from naksha.local.network.addresses import AddressesExhausted, AddressPool
from naksha.local.network.pods import host_ports_named
from naksha.local.network.services import ready_endpoints


class TestAddressPools:
    def test_addresses_are_distinct_and_inside_the_range(self, tmp_path: Path):
        pool = AddressPool("127.100.0.0/24", tmp_path)
        taken = [pool.allocate() for _ in range(50)]
        assert len(set(taken)) == 50
        assert all(ipaddress.ip_address(a) in ipaddress.ip_network("127.100.0.0/24") for a in taken)

    def test_an_address_in_use_by_another_holder_is_never_handed_out(self, tmp_path: Path):
        # Two pools on one lock directory behave as two kubelets on one machine.
        first, second = AddressPool("127.100.0.0/29", tmp_path), AddressPool("127.100.0.0/29", tmp_path)
        held = {first.allocate() for _ in range(3)}
        others = {second.allocate() for _ in range(3)}
        assert not held & others
        with pytest.raises(AddressesExhausted):
            second.allocate()

    def test_a_released_address_is_free_for_others_and_the_last_its_pool_hands_out_again(
        self, tmp_path: Path
    ):
        pool = AddressPool("127.100.0.0/29", tmp_path)  # six addresses
        address = pool.allocate()
        pool.release(address)
        other = AddressPool("127.100.0.0/29", tmp_path)
        assert other.reserve(address)
        other.release(address)
        following = [pool.allocate() for _ in range(5)]
        assert address not in following and len(set(following)) == 5
        assert pool.allocate() == address

    def test_a_released_address_leaves_no_lock_file_behind(self, tmp_path: Path):
        pool = AddressPool("127.100.0.0/29", tmp_path)
        kept, released = pool.allocate(), pool.allocate()
        pool.release(released)
        assert [p.name for p in tmp_path.iterdir()] == [kept]

    def test_a_taker_whose_lock_file_was_removed_before_it_locked_does_not_take_the_address(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        holder, taker = AddressPool("127.100.0.0/29", tmp_path), AddressPool("127.100.0.0/29", tmp_path)
        address = holder.allocate()
        lock = fcntl.flock

        def released_meanwhile(fd: int, operation: int) -> None:
            holder.release(address)  # between the taker's open and its lock, the file goes
            lock(fd, operation)

        monkeypatch.setattr(addresses.fcntl, "flock", released_meanwhile)
        assert taker.reserve(address) is False
        monkeypatch.undo()
        assert taker.reserve(address) is True  # a fresh try takes it

    def test_ranges_outside_the_loopback_are_refused(self, tmp_path: Path):
        with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
            AddressPool("10.0.0.0/24", tmp_path)


def pod(
    name: str, labels: dict[str, str], ready: bool, ip: str | None = "127.100.0.9", **extra: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels, **extra},
        "spec": {"containers": [{"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


class TestServiceEndpoints:
    SERVICE = {"spec": {"selector": {"app": "web"}}}

    def test_only_ready_matching_pods_with_an_address_are_endpoints(self):
        pods = [
            pod("a", {"app": "web"}, True, "127.100.0.1"),
            pod("b", {"app": "web"}, False, "127.100.0.2"),
            pod("c", {"app": "other"}, True, "127.100.0.3"),
            pod("d", {"app": "web"}, True, None),
            pod("e", {"app": "web"}, True, "127.100.0.5", deletionTimestamp="2026-01-01T00:00:00Z"),
        ]
        assert ready_endpoints(self.SERVICE, pods, {"port": 80, "targetPort": 8080}) == [
            ("127.100.0.1", 8080)
        ]

    def test_a_named_target_port_resolves_to_the_pods_container_port(self):
        pods = [pod("a", {"app": "web"}, True, "127.100.0.1")]
        assert ready_endpoints(self.SERVICE, pods, {"port": 80, "targetPort": "http"}) == [
            ("127.100.0.1", 8080)
        ]
        assert ready_endpoints(self.SERVICE, pods, {"port": 80, "targetPort": "nope"}) == []
        assert ready_endpoints(self.SERVICE, pods, {"port": 8080}) == [("127.100.0.1", 8080)]

    def test_a_service_without_selector_has_no_endpoints_here(self):
        assert ready_endpoints({"spec": {}}, [pod("a", {"app": "web"}, True)], {"port": 80}) == []


class TestHostEndpointsAPodNames:
    def test_loopback_endpoints_in_env_and_arguments_are_found(self):
        texts = ["127.0.0.1:9092,127.0.0.1:9093", "redis://localhost:6379/0", "http://127.0.0.1:8020/agent"]
        assert host_ports_named(texts) == {9092, 9093, 6379, 8020}

    def test_other_addresses_are_not_host_endpoints(self):
        assert (
            host_ports_named(["127.0.0.10:80", "10.0.0.1:9092", "127.100.0.4:8080", "no port here"]) == set()
        )
