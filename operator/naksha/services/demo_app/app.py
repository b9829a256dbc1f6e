"""``naksha demo-app``: a small HTTP service with a settable error rate and latency, to roll out.

The demo and the tests need a good version and a bad one of something real: this serves
``GET /`` (``200 <version>``, or ``500`` for the configured share of requests), ``/healthz`` and
Prometheus ``/metrics`` (``demo_http_requests_total{code,version}``,
``demo_http_request_duration_seconds{version}``). Errors are spread evenly rather than drawn at
random, so an error rate of 0.25 fails exactly every fourth request and analyses are
reproducible.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from naksha.errors import ConfigError
from naksha.models.common import parse_duration

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSettings:
    version: str = "v1"
    error_rate: float = 0.0
    latency_seconds: float = 0.0
    port: int = 8080

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DemoSettings:
        env = os.environ if env is None else env
        try:
            error_rate = float(env.get("NAKSHA_DEMO_ERROR_RATE", "0") or 0)
        except ValueError:
            raise ConfigError("NAKSHA_DEMO_ERROR_RATE must be a number between 0 and 1") from None
        if not 0.0 <= error_rate <= 1.0 or math.isnan(error_rate):
            raise ConfigError("NAKSHA_DEMO_ERROR_RATE must be a number between 0 and 1")
        try:
            latency = parse_duration(env.get("NAKSHA_DEMO_LATENCY", "0ms") or "0ms")
        except ValueError as error:
            raise ConfigError(f"NAKSHA_DEMO_LATENCY: {error}") from None
        port_text = env.get("NAKSHA_DEMO_PORT", "8080") or "8080"
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ConfigError(f"NAKSHA_DEMO_PORT={port_text!r} is not a port number")
        return cls(
            version=env.get("NAKSHA_DEMO_VERSION", "v1") or "v1",
            error_rate=error_rate,
            latency_seconds=latency,
            port=int(port_text),
        )


class DemoApp:
    def __init__(self, settings: DemoSettings) -> None:
        self.settings = settings
        self.served = 0
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "demo_http_requests_total",
            "Requests served, by status code.",
            ["code", "version"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "demo_http_request_duration_seconds",
            "Time to answer GET /.",
            ["version"],
            registry=self.registry,
        )

    def _fails(self) -> bool:
        """Whether this request is one of the failing share: evenly spread, exact over any window."""
        self.served += 1
        rate = self.settings.error_rate
        return math.floor(self.served * rate) > math.floor((self.served - 1) * rate)

    async def index(self, _: web.Request) -> web.Response:
        version = self.settings.version
        with self.duration.labels(version).time():
            if self.settings.latency_seconds > 0:
                await asyncio.sleep(self.settings.latency_seconds)
            code = 500 if self._fails() else 200
        self.requests.labels(str(code), version).inc()
        return web.Response(status=code, text=f"{version}\n" if code == 200 else f"{version} failed\n")

    async def health(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def metrics(self, _: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_get("/healthz", self.health)
        app.router.add_get("/metrics", self.metrics)
        return app


def run_demo_app(port: int | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = DemoSettings.from_env()
    if port is not None:
        settings = DemoSettings(settings.version, settings.error_rate, settings.latency_seconds, port)
    logger.info(
        "demo-app %s on :%d (error rate %.2f, latency %.3fs)",
        settings.version,
        settings.port,
        settings.error_rate,
        settings.latency_seconds,
    )
    web.run_app(DemoApp(settings).application(), port=settings.port, access_log=None, print=None)
    return 0
