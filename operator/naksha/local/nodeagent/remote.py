"""The node agent's connection to a real API server: async requests, and the pod runner's API.

The pod runner (shared with the emulator's kubelet) calls a synchronous ``PodApi``. Over HTTPS
its status writes are queued and sent by one task per agent, newest status per pod only, so a
burst of container changes costs one request; its ConfigMap/Secret reads and the pod tokens it
asks for (rare: once per container start, and per token renewal) are blocking requests of a few
milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import urllib3

from naksha.local.apiserver import errors

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    server: str  # https://127.0.0.1:PORT
    ca: Path
    cert: Path
    key: Path

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


class RequestFailed(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body[:300]}")
        self.status = status


class Remote:
    """aiohttp requests to the API server with the agent's client certificate."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(ssl=self.credentials.ssl_context())
        self._session = aiohttp.ClientSession(self.credentials.server, connector=connector)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "open() first"
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        async with self.session.request(method, path, data=data, headers=headers, params=params) as response:
            text = await response.text()
            if response.status >= 400:
                raise RequestFailed(response.status, text)
            return dict(json.loads(text)) if text else {}

    async def watch(self, path: str, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Events of one watch request until the server ends it."""
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.session.get(
            path, params={**params, "watch": "true"}, timeout=timeout, headers={"Accept": "application/json"}
        ) as response:
            if response.status >= 400:
                raise RequestFailed(response.status, await response.text())
            async for line in response.content:
                if line.strip():
                    yield dict(json.loads(line))


Key = tuple[str, str]  # (namespace, name)


async def follow(
    remote: Remote,
    path: str,
    on_event: Callable[[str, dict[str, Any]], Awaitable[None]],
    on_relist: Callable[[set[Key]], Awaitable[None]],
    selector: dict[str, str] | None = None,
) -> None:
    """List, then watch, a collection for ever, as an informer does.

    Every object listed is handed to ``on_event`` as ``ADDED``, then ``on_relist`` gets the keys
    present, so the caller can drop what vanished while no watch ran; each watch event follows.
    When the watch expires (410) or fails (the API server restarting), it lists again.
    """
    selector = selector or {}
    while True:
        try:
            listing = await remote.request("GET", path, params=selector)
            present = set()
            for obj in listing.get("items") or []:
                present.add((obj["metadata"]["namespace"], obj["metadata"]["name"]))
                await on_event("ADDED", obj)
            await on_relist(present)
            version = listing["metadata"]["resourceVersion"]
            params = {**selector, "resourceVersion": version, "allowWatchBookmarks": "true"}
            async for event in remote.watch(path, params):
                if event["type"] == "ERROR":
                    break  # 410 Gone or another failure: relist
                params["resourceVersion"] = event["object"]["metadata"]["resourceVersion"]
                if event["type"] != "BOOKMARK":
                    await on_event(event["type"], event["object"])
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the API server restarting, a dropped connection...
            logger.warning("node agent: following %s: %s; relisting", path, error)
            await asyncio.sleep(1.0)


@dataclass(frozen=True)
class RemoteResource:
    group: str
    version: str
    plural: str

    def path(self, namespace: str, name: str) -> str:
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{prefix}/namespaces/{namespace}/{self.plural}/{name}"


class RemoteCatalog:
    def get(self, group: str, version: str, plural: str) -> RemoteResource:
        return RemoteResource(group, version, plural)


class RemotePodApi:
    """The ``PodApi`` of the pod runner, over HTTPS."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self._catalog = RemoteCatalog()
        credentials = remote.credentials
        self._pool = urllib3.PoolManager(
            ca_certs=str(credentials.ca), cert_file=str(credentials.cert), key_file=str(credentials.key)
        )
        self._pending: dict[tuple[str, str], dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    @property
    def catalog(self) -> RemoteCatalog:
        return self._catalog

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_statuses(), name="node-agent-status-writer")

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        self._pool.clear()

    def get(self, resource: Any, namespace: str, name: str) -> dict[str, Any]:
        assert isinstance(resource, RemoteResource)
        return self.call("GET", resource.path(namespace, name))

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One blocking request (a few milliseconds on loopback); ``errors.ApiError`` on a refusal."""
        url = self.remote.credentials.server + path
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        response = self._pool.request(method, url, body=payload, headers=headers, timeout=5.0, retries=False)
        if response.status >= 400:
            raise errors.ApiError(response.status, "Failed", response.data.decode(errors="replace")[:300])
        return dict(json.loads(response.data))

    def patch(
        self,
        resource: Any,
        namespace: str,
        name: str,
        patcher: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Only pod status is written this way: queue the newest status of the pod."""
        assert subresource == "status", subresource
        status = patcher({}).get("status") or {}
        self._pending[(namespace, name)] = status
        self._wake.set()
        return {"status": status}

    def forget(self, namespace: str, name: str) -> None:
        """A pod that went away: drop its unsent status."""
        self._pending.pop((namespace, name), None)

    async def _write_statuses(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                (namespace, name), status = next(iter(self._pending.items()))
                del self._pending[(namespace, name)]
                path = f"/api/v1/namespaces/{namespace}/pods/{name}/status"
                try:
                    # A merge patch replaces lists whole (conditions, containerStatuses), as wanted.
                    await self.remote.request(
                        "PATCH", path, {"status": status}, content_type="application/merge-patch+json"
                    )
                except RequestFailed as error:
                    if error.status != 404:
                        logger.warning("node agent: pod %s/%s status: %s", namespace, name, error)
                except (aiohttp.ClientError, TimeoutError) as error:
                    logger.warning("node agent: pod %s/%s status: %s; retrying", namespace, name, error)
                    self._pending.setdefault((namespace, name), status)
                    await asyncio.sleep(0.5)
