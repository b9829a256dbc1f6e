"""Services: a ClusterIP in 127/8 each, and a small proxy that spreads connections over ready pods.

What kube-proxy does on a node, in userspace: every TCP port of a Service listens on its
ClusterIP on the host; each accepted connection goes to the next ready endpoint (round-robin),
skipping endpoints that refuse, and is relayed into that pod's namespace. Endpoints are worked
out from the Service's selector and the pods' readiness (``ready_endpoints``), or handed in by
the caller; pods reach a ClusterIP through their egress forwarder like any other 127/8 address.
"""

from __future__ import annotations

import itertools
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from naksha.local.network.addresses import SERVICE_RANGE, AddressPool
from naksha.local.network.node import NodeNetwork
from naksha.local.network.relay import Forwarder, connect, listening_socket

logger = logging.getLogger(__name__)
Endpoint = tuple[str, int]  # (pod address, port)
# (namespace, service name, the Service's port entry) -> ready endpoints, asked at every connection
EndpointSource = Callable[[str, str, dict[str, Any]], list[Endpoint]]


def ready_endpoints(
    service: dict[str, Any], pods: list[dict[str, Any]], port: dict[str, Any]
) -> list[Endpoint]:
    """The Service port's endpoints: ready pods its selector matches, with the target port resolved."""
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return []  # a Service without a selector has manually managed endpoints: none here
    target = port.get("targetPort", port.get("port"))
    found = []
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        status = pod.get("status") or {}
        if pod["metadata"].get("deletionTimestamp") or any(labels.get(k) != v for k, v in selector.items()):
            continue
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        if not ready or not status.get("podIP"):
            continue
        number = _container_port(pod, target)
        if number is not None:
            found.append((str(status["podIP"]), number))
    return sorted(found)


def _container_port(pod: dict[str, Any], target: Any) -> int | None:
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == target:
                return int(declared["containerPort"])
    return None


@dataclass
class _Served:
    address: str
    ports: dict[int, Forwarder] = field(default_factory=dict)
    signature: tuple[Any, ...] = ()


class ServiceProxy:
    """ClusterIPs and their listeners; ``serve`` on every Service change, ``forget`` when it goes."""

    def __init__(
        self, node: NodeNetwork, endpoints: EndpointSource, service_range: str = SERVICE_RANGE
    ) -> None:
        self.node = node
        self.endpoints = endpoints
        self._pool = AddressPool(service_range)
        self._served: dict[tuple[str, str], _Served] = {}
        self._turn = itertools.count()

    def address_of(self, namespace: str, name: str) -> str | None:
        served = self._served.get((namespace, name))
        return served.address if served else None

    async def serve(self, service: dict[str, Any], *, allocate: bool = True) -> str | None:
        """Listen on the Service's ClusterIP (allocated, or the one it asks for); None when headless.

        ``allocate=False`` is for a ClusterIP an API server already gave: that address or none
        (when it is outside 127/8, or held by another node on this machine, which the log says).
        """
        meta, spec = service["metadata"], service.get("spec") or {}
        key = (meta["namespace"], meta["name"])
        requested = spec.get("clusterIP")
        if requested == "None" or (not allocate and not requested):
            await self.forget(*key)
            return None
        served = self._served.get(key)
        if served is not None and not allocate and served.address != requested:
            await self.forget(*key)
            served = None
        if served is None:
            if requested and requested.startswith("127.") and self._pool.reserve(requested):
                address = requested
            elif allocate:
                address = self._pool.allocate()
            else:
                logger.warning("service %s/%s: its ClusterIP %s cannot be served here", *key, requested)
                return None
            served = self._served[key] = _Served(address)
        ports = [p for p in spec.get("ports") or [] if p.get("protocol", "TCP") == "TCP" and p.get("port")]
        signature = tuple(sorted((int(p["port"]), str(p.get("targetPort", p["port"]))) for p in ports))
        if signature != served.signature:
            for forwarder in served.ports.values():
                await forwarder.close()
            served.ports = {}
            for port in ports:
                await self._listen(key, served, port)
            served.signature = signature
        return served.address

    async def _listen(self, key: tuple[str, str], served: _Served, port: dict[str, Any]) -> None:
        number = int(port["port"])
        try:
            listener = listening_socket(served.address, number)
        except OSError as error:
            logger.warning("service %s/%s: cannot listen on %s:%d: %s", *key, served.address, number, error)
            return

        async def to_an_endpoint(_: socket.socket) -> socket.socket | None:
            return await self._connect(key, port)

        forwarder = Forwarder(listener, to_an_endpoint, f"service {key[0]}/{key[1]}:{number}")
        served.ports[number] = forwarder
        await forwarder.start()

    async def _connect(self, key: tuple[str, str], port: dict[str, Any]) -> socket.socket | None:
        candidates = self.endpoints(key[0], key[1], port)
        if not candidates:
            return None  # no ready endpoint: refused, as kube-proxy rejects
        start = next(self._turn)
        for offset in range(len(candidates)):
            address, number = candidates[(start + offset) % len(candidates)]
            pod = self.node.by_address(address)
            try:
                if pod is not None:
                    return await pod.open(number)
                return await connect(socket.socket(socket.AF_INET, socket.SOCK_STREAM), address, number)
            except OSError as error:
                logger.debug("service %s/%s: endpoint %s:%d refused: %s", *key, address, number, error)
        return None

    async def forget(self, namespace: str, name: str) -> None:
        served = self._served.pop((namespace, name), None)
        if served is None:
            return
        for forwarder in served.ports.values():
            await forwarder.close()
        self._pool.release(served.address)

    async def close(self) -> None:
        for key in list(self._served):
            await self.forget(*key)
        self._pool.release_all()
