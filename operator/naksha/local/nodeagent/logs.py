"""The node agent's server: what the API server calls for ``kubectl logs`` and ``port-forward``.

The API server proxies ``pods/log`` to ``https://<node InternalIP>:<kubeletEndpoint port>/
containerLogs/<namespace>/<pod>/<container>``, authenticating with its kubelet client
certificate; this server checks that certificate against the cluster CA and answers from the
files the pod runner writes (``<state_dir>/pods/<namespace>/<pod>/<container>.log``).
Supported: ``tailLines``, ``limitBytes``, ``follow``. Not kept: ``previous`` (a restarted
container appends to the same file). ``/portForward/<namespace>/<pod>`` (``pods/portforward``,
which the API server hands over as an upgraded connection) goes to the handler the agent gives.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

FOLLOW_POLL_SECONDS = 0.2


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LogServer:
    def __init__(
        self,
        state_dir: Path,
        *,
        serving: tuple[Path, Path],
        client_ca: Path,
        port_forward: Handler | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.port_forward = port_forward
        self.port = 0
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_ca))
        context.load_cert_chain(str(serving[0]), str(serving[1]))
        context.verify_mode = ssl.CERT_REQUIRED
        self._ssl = context
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        if self.port_forward is not None:
            app.router.add_route("*", "/portForward/{namespace}/{pod}", self.port_forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _path(self, request: web.Request) -> Path:
        parts = [request.match_info[k] for k in ("namespace", "pod", "container")]
        if any("/" in p or p in ("", ".", "..") for p in parts):
            raise web.HTTPBadRequest(text="bad name")
        return self.state_dir / "pods" / parts[0] / parts[1] / f"{parts[2]}.log"

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        path = self._path(request)
        if not path.exists():
            # A simulated container writes nothing, and a container that never started has no file.
            if (path.parent).exists():
                return web.Response(body=b"", content_type="text/plain")
            raise web.HTTPNotFound(text=f"no logs for {request.match_info['pod']}")
        data = path.read_bytes()
        tail = request.query.get("tailLines")
        if tail is not None and tail.isdigit():
            data = b"".join(deque(data.splitlines(keepends=True), maxlen=int(tail)))
        limit = request.query.get("limitBytes")
        if limit is not None and limit.isdigit():
            data = data[: int(limit)]
        if request.query.get("follow") not in ("true", "1"):
            return web.Response(body=data, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(data)
        offset = path.stat().st_size
        while True:  # until the client goes away (the API server closes the proxied stream)
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
            size = path.stat().st_size if path.exists() else offset
            if size > offset:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    await response.write(handle.read(size - offset))
                offset = size
