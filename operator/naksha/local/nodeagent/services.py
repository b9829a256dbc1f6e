"""The node agent's Service proxy: the ClusterIPs kube-apiserver allocates, served on this machine.

The real API server allocates each Service's ClusterIP from its service range (a 127/8 block of
the control plane's own, see ``naksha.local.real``); kube-proxy's part is the node's. This follows
Services through the API and has ``naksha.local.network.ServiceProxy`` — the emulator's node proxy
— listen on each ClusterIP, spreading connections over the ready pods the Service selects (worked
out at connection time from the pods the agent last saw, so a pod that stops being ready stops
getting connections at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from naksha.local.network import NodeNetwork, ServiceProxy, ready_endpoints
from naksha.local.network.services import Endpoint
from naksha.local.nodeagent.remote import Key, Remote, follow

logger = logging.getLogger(__name__)


class ServiceFollower:
    def __init__(
        self, remote: Remote, network: NodeNetwork, pods: Callable[[], Iterable[dict[str, Any]]]
    ) -> None:
        self.remote = remote
        self.pods = pods
        self.services: dict[Key, dict[str, Any]] = {}
        self.proxy = ServiceProxy(network, self._endpoints)

    async def run(self) -> None:
        await follow(self.remote, "/api/v1/services", self._on_service, self._forget_gone)

    async def close(self) -> None:
        await self.proxy.close()

    def address_of(self, namespace: str, name: str) -> str | None:
        return self.proxy.address_of(namespace, name)

    async def _on_service(self, event_type: str, service: dict[str, Any]) -> None:
        meta = service["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED" or meta.get("deletionTimestamp"):
            self.services.pop(key, None)
            await self.proxy.forget(*key)
            return
        self.services[key] = service
        try:
            await self.proxy.serve(service, allocate=False)
        except OSError as error:
            logger.warning("node agent: serving the Service %s/%s: %s", *key, error)

    async def _forget_gone(self, present: set[Key]) -> None:
        for key in [key for key in self.services if key not in present]:
            del self.services[key]
            await self.proxy.forget(*key)

    def _endpoints(self, namespace: str, name: str, port: dict[str, Any]) -> list[Endpoint]:
        service = self.services.get((namespace, name))
        if service is None:
            return []
        pods = [pod for pod in self.pods() if pod["metadata"]["namespace"] == namespace]
        return ready_endpoints(service, pods, port)
