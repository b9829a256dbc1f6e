"""The insight worker's HTTP endpoints: ``POST /ingest`` and ``GET /history`` (HTTP push sources),
``/health``, ``/metrics``.

``/ingest`` takes one JSON record or a JSON array of records. 202 when at least one record was
accepted (rejected ones are listed with their reason and counted), 400 when none was, with the
reasons, 413 over the stream's body limit. Streams with another source answer 404 there, so a
misrouted producer finds out instead of losing data silently. In front of it the stream's
``IngestGuard`` (``naksha.services.insight.ingest_guard``) answers 401, 403 and 429 with the reason;
every refusal is counted in ``naksha_insight_ingest_refused_total{code}``.

``/history?since=T&until=T`` streams the worker's ring of accepted samples in that time range
(epoch seconds), one JSON line per sample (``history_ring``), behind ``HistoryGuard``: 401, 403,
429 and 503 like ingest; 400 for a bad range; 404 on a stream without a ring.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from naksha.services.insight.history_ring import HistoryRing
from naksha.services.insight.ingest_guard import HistoryGuard, IngestGuard, Refused
from naksha.services.insight.telemetry import WorkerMetrics

MAX_LISTED_REJECTIONS = 20
HISTORY_CHUNK_LINES = 10_000


@dataclass
class IngestOutcome:
    accepted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (index in the batch, reason)


Ingest = Callable[[bytes], Awaitable[IngestOutcome]]
Health = Callable[[], dict[str, Any]]


def build_app(
    *,
    metrics: WorkerMetrics,
    health: Health,
    ingest: Ingest | None,
    max_body_bytes: int,
    guard: IngestGuard | None = None,
    history: HistoryRing | None = None,
    history_guard: HistoryGuard | None = None,
) -> web.Application:
    # aiohttp answers 413 itself past client_max_size, before the body is buffered.
    app = web.Application(client_max_size=max_body_bytes)

    def refuse(status: int, message: str, **headers: str) -> web.Response:
        metrics.ingest_refused.labels(metrics.stream, str(status)).inc()
        return web.json_response({"error": message}, status=status, headers=headers or None)

    async def handle_ingest(request: web.Request) -> web.Response:
        if ingest is None:
            return web.json_response(
                {"error": "this stream does not take HTTP push; its source is not http"}, status=404
            )
        if guard is not None:
            # Who is pushing comes before the body is read: a refused client costs no buffering.
            transport = request.transport
            peer = transport.get_extra_info("peercert") if transport is not None else None
            try:
                await guard.admit(request.headers.get("Authorization"), request.remote or "", bool(peer))
            except Refused as error:
                headers = {"WWW-Authenticate": 'Bearer realm="naksha-ingest"'} if error.status == 401 else {}
                if error.retry_after:
                    headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
                return refuse(error.status, str(error), **headers)
        if request.content_length is not None and request.content_length > max_body_bytes:
            return refuse(413, _too_large_message(max_body_bytes))
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return refuse(413, _too_large_message(max_body_bytes))
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

    async def handle_history(request: web.Request) -> web.StreamResponse:
        if history is None or history_guard is None:
            return web.json_response(
                {"error": "this worker keeps no history ring (only HTTP push workers do; see its report)"},
                status=404,
            )
        try:
            await history_guard.admit(request.headers.get("Authorization"), request.remote or "")
        except Refused as error:
            headers = {"WWW-Authenticate": 'Bearer realm="naksha-history"'} if error.status == 401 else {}
            if error.retry_after:
                headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
            return web.json_response({"error": str(error)}, status=error.status, headers=headers or None)
        try:
            since = float(request.query.get("since", "0"))
            until = float(request.query.get("until", "inf"))
        except ValueError:
            return web.json_response({"error": "since and until must be epoch seconds"}, status=400)
        if math.isnan(since) or math.isnan(until) or since >= until:
            return web.json_response(
                {"error": f"empty or invalid range since={since} until={until}"}, status=400
            )
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        lines = history.read(since, until)
        while chunk := await asyncio.to_thread(_take, lines, HISTORY_CHUNK_LINES):
            await response.write(b"".join(chunk))
        await response.write_eof()
        return response

    async def handle_health(_: web.Request) -> web.Response:
        return web.json_response(health())

    async def handle_metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(metrics.registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    app.router.add_post("/ingest", handle_ingest)
    app.router.add_get("/history", handle_history)
    app.router.add_get("/health", handle_health)
    app.router.add_get("/metrics", handle_metrics)
    return app


def _too_large_message(limit: int) -> str:
    return f"the body is larger than the stream's limit of {limit} bytes"


def _take(lines: Iterator[bytes], count: int) -> list[bytes]:
    """Up to ``count`` lines of the ring (read in a thread: the ring is on disk)."""
    taken = []
    for line in lines:
        taken.append(line)
        if len(taken) >= count:
            break
    return taken
