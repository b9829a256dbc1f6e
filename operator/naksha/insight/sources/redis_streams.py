"""Redis Streams source: a consumer group read with XREADGROUP, acknowledged with XACK after processing.

On start the consumer first re-reads its own pending entries (a restart with the same name),
and every ``claimIdle / 2`` it takes over entries another consumer left pending longer than
``claimIdle`` (a worker that died mid-batch) with XAUTOCLAIM. An entry's payload is its
``data`` (or ``record``) field; an entry without one is taken as a flat record of its fields.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from naksha.insight.sources import BatchHandler, sleep_unless
from naksha.models.common import parse_duration
from naksha.models.insightstream import RedisSource as RedisSpec

logger = logging.getLogger(__name__)
BLOCK_MS = 500
RETRY_CAP_SECONDS = 10.0
PAYLOAD_FIELDS = (b"data", b"record")

Entry = tuple[bytes, dict[bytes, bytes]]


def entry_payload(fields: dict[bytes, bytes]) -> bytes:
    for name in PAYLOAD_FIELDS:
        if name in fields:
            return fields[name]
    flat = {key.decode(errors="replace"): value.decode(errors="replace") for key, value in fields.items()}
    return json.dumps(flat).encode()


class RedisStreamSource:
    def __init__(
        self, spec: RedisSpec, *, url: str, consumer: str, dead_letter_stream: str | None = None
    ) -> None:
        self.spec = spec
        self.error: str | None = None
        self._url = url
        self._consumer = consumer
        self._dead_letter_stream = dead_letter_stream
        self._claim_idle_ms = int(parse_duration(spec.claim_idle) * 1000)
        self._stopping = asyncio.Event()
        self._client: aioredis.Redis | None = None
        self._lag: float | None = None
        self.claimed = 0

    async def run(self, handle: BatchHandler) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self._consume(handle)
                return
            except (RedisError, OSError) as error:
                self.error = f"redis stream {self.spec.stream}: {error}"
                logger.warning("%s; retrying in %.1fs", self.error, delay)
                await sleep_unless(self._stopping, delay)
                delay = min(delay * 2, RETRY_CAP_SECONDS)

    async def _consume(self, handle: BatchHandler) -> None:
        client = self._connect()
        try:
            await client.xgroup_create(self.spec.stream, self.spec.group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self.error = None
        # Our own pending entries first: this consumer may be a restart of one that died mid-batch.
        await self._process(handle, await self._read("0"))
        next_claim = 0.0
        while not self._stopping.is_set():
            if time.monotonic() >= next_claim:
                next_claim = time.monotonic() + self._claim_idle_ms / 2000
                await self._claim(handle)
            await self._process(handle, await self._read(">"))
            self._lag = await self._measure_lag(client)

    async def _read(self, start: str) -> list[Entry]:
        client = self._connect()
        block = None if start == "0" else BLOCK_MS
        response: Any = await client.xreadgroup(
            self.spec.group, self._consumer, {self.spec.stream: start}, count=self.spec.max_batch, block=block
        )
        entries: list[Entry] = []
        for _stream, items in response or []:
            entries.extend((entry_id, fields) for entry_id, fields in items if fields is not None)
        return entries

    async def _claim(self, handle: BatchHandler) -> None:
        client = self._connect()
        cursor = "0-0"
        while not self._stopping.is_set():
            reply = await client.xautoclaim(
                self.spec.stream,
                self.spec.group,
                self._consumer,
                self._claim_idle_ms,
                start_id=cursor,
                count=self.spec.max_batch,
            )
            cursor, entries = reply[0], [(i, f) for i, f in reply[1] if f is not None]
            self.claimed += len(entries)
            await self._process(handle, entries)
            if cursor in (b"0-0", "0-0"):
                return

    async def _process(self, handle: BatchHandler, entries: list[Entry]) -> None:
        if not entries:
            return
        await handle([entry_payload(fields) for _, fields in entries])
        await self._connect().xack(self.spec.stream, self.spec.group, *(entry_id for entry_id, _ in entries))

    async def _measure_lag(self, client: aioredis.Redis) -> float | None:
        for group in await client.xinfo_groups(self.spec.stream):
            if _text(group.get("name")) == self.spec.group:
                lag = group.get("lag")
                return float(lag) if lag is not None else None
        return None

    def lag(self) -> float | None:
        return self._lag

    def stop(self) -> None:
        self._stopping.set()

    async def dead_letter(self, payloads: list[bytes]) -> None:
        if not self._dead_letter_stream or not payloads:
            return
        async with self._connect().pipeline(transaction=False) as pipe:
            for payload in payloads:
                pipe.xadd(self._dead_letter_stream, {"data": payload})
            await pipe.execute()

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _connect(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.from_url(self._url, socket_connect_timeout=5)
        return self._client


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
