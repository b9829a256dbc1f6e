"""Where an insight worker's telemetry comes from: Kafka, Redis Streams, or HTTP push.

A pull source (Kafka, Redis) runs a loop that hands each batch of raw payloads to the
worker's pipeline, naming the shard it came from (a Kafka partition, a Redis consumer), and
acknowledges records only together with a checkpoint of the state that saw them
(``insight.checkpoint``): a crash replays exactly what the restored state has not seen, and
deterministic AgentRun names make a replayed incident's second create harmless.
HTTP push has no loop: ``POST /ingest`` calls the pipeline directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

BatchHandler = Callable[[list[bytes], str], Awaitable[None]]  # payloads, shard


class ShardStore(Protocol):
    """Durable checkpoints by shard (blocking calls: sources run them in a thread)."""

    def load(self, shards: Iterable[str]) -> dict[str, bytes]: ...

    def save(self, blobs: Mapping[str, bytes]) -> None: ...


class PullSource(Protocol):
    """A source the worker polls; ``error`` says why it is unreachable, if it is."""

    error: str | None
    pod_bound: bool  # its shards end with the worker (Redis consumers), or outlive it (Kafka partitions)

    async def run(self, handle: BatchHandler) -> None: ...

    def stop(self) -> None: ...

    def lag(self) -> float | None: ...

    async def dead_letter(self, payloads: list[bytes]) -> None: ...

    async def close(self) -> None: ...


async def sleep_unless(stopping: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if the source is told to stop meanwhile (retry back-off)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
