"""The local kubelet's Service controller: a ClusterIP for every Service, served by the node's proxy.

It follows Services in the store, has ``naksha.local.network.ServiceProxy`` listen on each one's
ClusterIP (allocated in 127/8 and written to ``spec.clusterIP``/``clusterIPs``, as the API server's
allocator would), and answers the proxy's question "which pods are ready behind this port?"
from the store at connection time, so an unready or deleted pod stops getting connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from naksha.local.apiserver import errors
from naksha.local.apiserver.objects import ObjectService
from naksha.local.apiserver.store import Subscriber
from naksha.local.network import NodeNetwork, ServiceProxy, ready_endpoints
from naksha.local.network.services import Endpoint

logger = logging.getLogger(__name__)


class ServiceController:
    def __init__(self, api: ObjectService, node: NodeNetwork) -> None:
        self.api = api
        self.services = api.catalog.get("", "v1", "services")
        self.pods = api.catalog.get("", "v1", "pods")
        assert self.services is not None and self.pods is not None
        self.proxy = ServiceProxy(node, self._endpoints)
        self._subscriber: Subscriber | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        assert self.services is not None
        self._subscriber = self.api.store.subscribe(self.services.key, None)
        for service in list(self.api.store.items(self.services.key)):
            await self._serve(service)
        self._task = asyncio.create_task(self._follow(self._subscriber), name="kubelet-services")

    async def stop(self) -> None:
        if self._subscriber is not None:
            self.api.store.unsubscribe(self._subscriber)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.proxy.close()

    async def _follow(self, subscriber: Subscriber) -> None:
        while True:
            event = await subscriber.queue.get()
            meta = event.obj["metadata"]
            try:
                if event.type == "DELETED" or meta.get("deletionTimestamp"):
                    await self.proxy.forget(meta["namespace"], meta["name"])
                else:
                    await self._serve(event.obj)
            except Exception:
                logger.exception("serving the Service %s/%s failed", meta.get("namespace"), meta.get("name"))

    async def _serve(self, service: dict[str, Any]) -> None:
        address = await self.proxy.serve(service)
        spec = service.get("spec") or {}
        if address is None or (spec.get("clusterIP") == address and spec.get("clusterIPs") == [address]):
            return
        meta = service["metadata"]

        def assign(current: dict[str, Any]) -> dict[str, Any]:
            current.setdefault("spec", {}).update({"clusterIP": address, "clusterIPs": [address]})
            return current

        assert self.services is not None
        with contextlib.suppress(errors.ApiError):  # deleted meanwhile: its DELETED event follows
            self.api.patch(self.services, meta["namespace"], meta["name"], assign)

    def _endpoints(self, namespace: str, name: str, port: dict[str, Any]) -> list[Endpoint]:
        assert self.services is not None and self.pods is not None
        service = self.api.store.get(self.services.key, namespace, name)
        if service is None:
            return []
        return ready_endpoints(service, list(self.api.store.items(self.pods.key, namespace)), port)
