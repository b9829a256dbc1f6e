"""The insight worker's HTTP endpoints: ``POST /ingest`` (HTTP push sources), ``/health``, ``/metrics``.

``/ingest`` takes one JSON record or a JSON array of records. 202 when at least one record was
accepted (rejected ones are listed with their reason and counted), 400 when none was, with the
reasons, 413 over the stream's body limit. Streams with another source answer 404 there, so a
misrouted producer finds out instead of losing data silently.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from naksha.insight.telemetry import WorkerMetrics

MAX_LISTED_REJECTIONS = 20


@dataclass
class IngestOutcome:
    accepted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (index in the batch, reason)


Ingest = Callable[[bytes], Awaitable[IngestOutcome]]
Health = Callable[[], dict[str, Any]]


def build_app(
    *, metrics: WorkerMetrics, health: Health, ingest: Ingest | None, max_body_bytes: int
) -> web.Application:
    # aiohttp answers 413 itself past client_max_size, before the body is buffered.
    app = web.Application(client_max_size=max_body_bytes)

    async def handle_ingest(request: web.Request) -> web.Response:
        if ingest is None:
            return web.json_response(
                {"error": "this stream does not take HTTP push; its source is not http"}, status=404
            )
        if request.content_length is not None and request.content_length > max_body_bytes:
            return _too_large(max_body_bytes)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(max_body_bytes)
        outcome = await ingest(body)
        listed = [
            {"index": index, "reason": reason} for index, reason in outcome.rejected[:MAX_LISTED_REJECTIONS]
        ]
        payload = {"accepted": outcome.accepted, "rejected": len(outcome.rejected), "reasons": listed}
        if outcome.accepted == 0 and outcome.rejected:
            payload["error"] = "no record was accepted: " + ", ".join(
                sorted({r for _, r in outcome.rejected})
            )
            return web.json_response(payload, status=400)
        return web.json_response(payload, status=202)

    async def handle_health(_: web.Request) -> web.Response:
        return web.json_response(health())

    async def handle_metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(metrics.registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    app.router.add_post("/ingest", handle_ingest)
    app.router.add_get("/health", handle_health)
    app.router.add_get("/metrics", handle_metrics)
    return app


def _too_large(limit: int) -> web.Response:
    return web.json_response(
        {"error": f"the body is larger than the stream's limit of {limit} bytes"}, status=413
    )
