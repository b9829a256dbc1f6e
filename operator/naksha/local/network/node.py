"""The node's network: gives pods their namespace and address, and takes them back.

One per kubelet. At start it removes what crashed kubelets left behind (their network
namespaces and the processes still running inside them; their address locks died with them) and
decides whether pods can be isolated here. Each pod then gets a ``PodNetwork``: isolated when the
machine allows it (root, ``ip``, ``nft``, ``nsenter``; a namespace that fails to come up falls
back for that pod), on the host's loopback otherwise, with the reason in the pod's status and in
the log. Nothing here knows about the API: the local kubelet and a node agent for a real API
server use it alike.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from naksha.local.network import namespaces
from naksha.local.network.addresses import POD_RANGE, AddressPool
from naksha.local.network.pods import HOST_ADDRESS, PodNetwork

logger = logging.getLogger(__name__)


class NodeNetwork:
    """``isolate=False`` keeps every pod on the host's loopback (as when namespaces are unavailable)."""

    def __init__(
        self, *, isolate: bool = True, host_ports: Iterable[int] = (), pod_range: str = POD_RANGE
    ) -> None:
        self.kubelet_pid = os.getpid()
        self.host_ports = set(host_ports)
        self.pods: dict[str, PodNetwork] = {}  # by pod uid
        self._pool = AddressPool(pod_range)
        missing = namespaces.missing_requirements() if isolate else ["host networking was asked for"]
        self.unavailable = "; ".join(missing)
        self.swept: list[str] = []

    @property
    def isolating(self) -> bool:
        return not self.unavailable

    async def start(self) -> None:
        if os.geteuid() == 0:
            self.swept = await namespaces.sweep(namespaces.leftovers())
            if self.swept:
                logger.warning(
                    "removed network namespaces left by kubelets that are gone: %s", ", ".join(self.swept)
                )
        if self.isolating:
            logger.info("pods get their own network namespace and an address of %s", self._pool.cidr)
        else:
            logger.warning(
                "pods share the host's loopback (no network namespaces: %s); pods listening on the same "
                "port will collide",
                self.unavailable,
            )

    def by_address(self, address: str) -> PodNetwork | None:
        for network in self.pods.values():
            if network.address == address and network.isolated:
                return network
        return None

    async def attach(
        self, uid: str, namespace: str, name: str, *, ports: set[int], host_network: bool = False
    ) -> PodNetwork:
        """The pod's network, set up: its namespace and address, and its ports forwarded from the host."""
        existing = self.pods.get(uid)
        if existing is not None:
            return existing
        if host_network or not self.isolating:
            reason, why = (
                ("HostNetwork", "spec.hostNetwork is true")
                if host_network
                else ("NamespacesUnavailable", self.unavailable)
            )
            network = PodNetwork(HOST_ADDRESS, reason=reason, message=f"on the host's loopback: {why}")
            self.pods[uid] = network
            return network
        address = self._pool.allocate()
        netns = namespaces.namespace_name(self.kubelet_pid, uid, namespace, name)
        try:
            await namespaces.create(netns, address)
        except namespaces.NamespaceError as error:
            self._pool.release(address)
            logger.warning(
                "pod %s/%s runs on the host's loopback: its network namespace failed: %s",
                namespace,
                name,
                error,
            )
            network = PodNetwork(
                HOST_ADDRESS, reason="NamespaceFailed", message=f"on the host's loopback: {error}"
            )
            self.pods[uid] = network
            return network
        network = PodNetwork(
            address,
            netns=netns,
            reason="NetworkNamespace",
            message=f"network namespace {netns}, address {address}",
            neighbours=self.by_address,
        )
        self.pods[uid] = network
        try:
            await network.start(ports)
            await network.allow_host_ports(self.host_ports)
        except Exception as error:  # the executor's thread failing to enter the namespace, too
            await self.detach(uid)
            raise OSError(f"the network of pod {namespace}/{name} did not come up: {error}") from error
        return network

    async def detach(self, uid: str) -> None:
        """Close the pod's forwarders, remove its namespace (and anything left inside), free its address."""
        network = self.pods.pop(uid, None)
        if network is None:
            return
        await network.close()
        if network.netns is not None:
            try:
                await namespaces.delete(network.netns)
            except namespaces.NamespaceError as error:
                logger.warning("could not remove the network namespace %s: %s", network.netns, error)
            self._pool.release(network.address)

    async def close(self) -> None:
        for uid in list(self.pods):
            await self.detach(uid)
        self._pool.release_all()
