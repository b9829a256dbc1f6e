"""The hub's listening socket, with bounds on slow clients before a request reaches a handler.

A client that connects and dribbles its TLS handshake or its request headers (slowloris) would
otherwise hold a connection for asyncio's default 60 s handshake allowance plus aiohttp's idle
keep-alive (an hour). The hub bounds both:

- the TLS handshake must finish within ``handshake_timeout`` (the loop drops the connection);
- the request line and headers must arrive within ``header_timeout`` of the connection (or of
  the previous response on a kept-alive connection): aiohttp's idle keep-alive timer, which
  is not re-armed by incoming bytes, closes a connection still waiting for a whole request.

So a slow client is dropped at most ``handshake_timeout + header_timeout`` after it connects;
once its headers are in, the body has ``body_timeout`` (a 408 answer, in the app). A long poll
is a request being handled, which the keep-alive timer never interrupts.
"""

from __future__ import annotations

import asyncio
import ssl

from aiohttp import web

# Connections waiting to be accepted: a thousand agents reconnecting at once (after a hub
# restart) would overflow the usual 128, and a dropped SYN is retried only after seconds.
BACKLOG = 1024


class HubSite(web.BaseSite):
    """A TCP site like aiohttp's own, plus a bound on the TLS handshake and a deeper backlog."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        handshake_timeout: float,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=BACKLOG)
        self._host = host
        self._port = port
        self._handshake_timeout = handshake_timeout

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            server,
            self._host,
            self._port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self._handshake_timeout if self._ssl_context else None,
            backlog=self._backlog,
            reuse_address=True,
        )
