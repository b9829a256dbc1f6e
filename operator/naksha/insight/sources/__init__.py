"""Where an insight worker's telemetry comes from: Kafka, Redis Streams, or HTTP push.

A pull source (Kafka, Redis) runs a loop that hands each batch of raw payloads to the
worker's pipeline and acknowledges the batch only after the pipeline is done with it
(at-least-once: a crash replays, and deterministic AgentRun names make the replay harmless).
HTTP push has no loop: ``POST /ingest`` calls the pipeline directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

BatchHandler = Callable[[list[bytes]], Awaitable[None]]


class PullSource(Protocol):
    """A source the worker polls; ``error`` says why it is unreachable, if it is."""

    error: str | None

    async def run(self, handle: BatchHandler) -> None: ...

    def stop(self) -> None: ...

    def lag(self) -> float | None: ...

    async def dead_letter(self, payloads: list[bytes]) -> None: ...

    async def close(self) -> None: ...


async def sleep_unless(stopping: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if the source is told to stop meanwhile (retry back-off)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
