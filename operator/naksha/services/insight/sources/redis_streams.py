"""Redis Streams source: XREADGROUP, and XACK in one transaction with a checkpoint of the state.

Each consumer (one per worker, named after its pod) is a shard of the stream's state. Every
``checkpointInterval`` the worker, in one MULTI/EXEC, writes its state into the hash
``naksha:insight-state:<group>:<stream>`` (field: the consumer), adds what it counted since into
the stream's totals (``naksha:insight-counts:<group>:<stream>``) and acknowledges the entries
that state has seen: the saved state and the totals always describe exactly the acknowledged
entries, whichever worker counted them, so the totals need nothing from a departed worker.

On start the consumer restores its state and re-reads its own pending entries (a restart with
the same name: exactly what the state has not seen). Every ``claimIdle / 2`` it adopts the state
of consumers that left (deleted at a clean stop) or went silent longer than ``claimIdle`` (in the
same transaction that removes it), and takes over entries pending longer than ``claimIdle``
(XPENDING, XCLAIM), adopting their owner's state first: a departed worker's state and its
unfinished entries move on together. An entry's payload is its
``data`` (or ``record``) field; an entry without one is taken as a flat record of its fields.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError, WatchError

from naksha.models.common import parse_duration
from naksha.models.insightstream import RedisSource as RedisSpec
from naksha.services.insight.checkpoint import COUNTERS, ShardCheckpoint, StateBook, encode
from naksha.services.insight.sources import BatchHandler, sleep_unless

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


def state_key(stream: str, group: str) -> str:
    return f"naksha:insight-state:{group}:{stream}"


def counts_key(stream: str, group: str) -> str:
    return f"naksha:insight-counts:{group}:{stream}"


class RedisStreamSource:
    pod_bound = False  # the reported shard is the stream's totals, kept in Redis

    def __init__(
        self,
        spec: RedisSpec,
        *,
        url: str,
        consumer: str,
        dead_letter_stream: str | None = None,
        state: StateBook | None = None,
        checkpoint_seconds: float = 1.0,
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
        self._state = state
        self._interval = checkpoint_seconds
        self._key = state_key(spec.stream, spec.group)
        self._counts_key = counts_key(spec.stream, spec.group)
        self._unacked: list[bytes] = []  # entries handled since the last checkpoint
        self._flushed: dict[str, int] = {}  # this consumer's counts already added to the totals
        self.shard = f"redis/{spec.group}/{consumer}"
        self.totals_shard = f"redis/{spec.group}/{spec.stream}"
        self.claimed = 0
        self.adopted = 0
        self.checkpoints = 0

    async def run(self, handle: BatchHandler) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self._consume(handle)
                return
            except (RedisError, OSError) as error:
                self.error = f"redis stream {self.spec.stream}: {error}"
                logger.warning("%s; retrying in %.1fs", self.error, delay)
                # Entries handled since the last checkpoint are still pending and will be read
                # again: forget their effect by going back to the saved state.
                self._unacked.clear()
                if self._state is not None:
                    self._state.forget([self.shard])
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
        if self._state is not None:
            saved = await client.hget(self._key, self._consumer)
            if saved is not None:
                self._state.restore_saved(self.shard, _bytes(saved))
            self._flushed = dict(self._state.counts_for(self.shard))
            self._report_totals(await client.hgetall(self._counts_key))
        # Our own pending entries first: this consumer may be a restart of one that died mid-batch.
        cursor = "0"
        while entries := await self._read(cursor):
            await self._process(handle, entries)
            cursor = _text(entries[-1][0])
        next_claim = 0.0
        due = time.monotonic() + self._interval
        while not self._stopping.is_set():
            if time.monotonic() >= next_claim:
                next_claim = time.monotonic() + self._claim_idle_ms / 2000
                await self._checkpoint()  # our own entries acknowledged before anything is claimed
                await self._adopt_departed()
                await self._claim(handle)
            await self._process(handle, await self._read(">"))
            if time.monotonic() >= due:
                due = time.monotonic() + self._interval
                await self._checkpoint()
            self._lag = await self._measure_lag(client)
        if await self._checkpoint() and self._state is not None and not await self._own_pending(client):
            # A clean stop with nothing pending: leaving the group lets a successor adopt the
            # state at once instead of after claimIdle (deleting a consumer drops its pending
            # entries, hence the check).
            await client.xgroup_delconsumer(self.spec.stream, self.spec.group, self._consumer)

    async def _own_pending(self, client: aioredis.Redis) -> bool:
        pending = await client.xpending_range(
            self.spec.stream, self.spec.group, min="-", max="+", count=1, consumername=self._consumer
        )
        return bool(pending)

    async def _checkpoint(self, adopt: tuple[str, ShardCheckpoint] | None = None) -> bool:
        """Save the state and acknowledge the entries it has seen, atomically; ``adopt`` also removes
        a departed consumer's saved state (already merged into ours) in the same transaction."""
        if not self._unacked and adopt is None:
            return True  # nothing handled since the last checkpoint: the saved state is current
        client = self._connect()
        async with client.pipeline(transaction=True) as pipe:
            if adopt is not None:
                await pipe.watch(self._key)
                if await pipe.hget(self._key, adopt[0]) is None:
                    return False  # adopted by another worker meanwhile
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hdel(self._key, adopt[0])
            if self._unacked:
                pipe.xack(self.spec.stream, self.spec.group, *self._unacked)
            snapshot = None
            if self._state is not None:
                snapshot = self._state.snapshot(self.shard, {})
                pipe.hset(self._key, self._consumer, encode(snapshot))
                for counter, value in snapshot.counts.items():
                    pipe.hincrby(self._counts_key, counter, value - self._flushed.get(counter, 0))
                pipe.hgetall(self._counts_key)
            try:
                replies = await pipe.execute()
            except WatchError:
                return False
        self._unacked.clear()
        if snapshot is not None:
            self._flushed = dict(snapshot.counts)
            self._report_totals(replies[-1])
        self.checkpoints += 1
        return True

    def _report_totals(self, totals: dict[Any, Any]) -> None:
        """The stream's totals (as of this checkpoint) are what this worker reports."""
        assert self._state is not None
        counts = {_text(name): int(value) for name, value in totals.items()}
        self._state.committed = {self.totals_shard: {c: counts.get(c, 0) for c in COUNTERS}}

    async def _adopt_departed(self) -> None:
        """Merge in the saved state of consumers that left the group or stopped reading."""
        if self._state is None:
            return
        client = self._connect()
        owners = [_text(field) for field in await client.hkeys(self._key)]
        others = [owner for owner in owners if owner != self._consumer]
        if not others:
            return
        idle = {
            _text(c.get("name")): int(c.get("idle") or 0)
            for c in await client.xinfo_consumers(self.spec.stream, self.spec.group)
        }
        for owner in others:
            if owner not in idle or idle[owner] >= self._claim_idle_ms:
                await self._adopt(owner)

    async def _adopt(self, owner: str) -> None:
        """Merge a departed consumer's saved state into ours, and save ours without its, atomically."""
        if self._state is None or owner == self._consumer:
            return
        blob = await self._connect().hget(self._key, owner)
        if blob is None:
            return
        departed = f"redis/{self.spec.group}/{owner}"
        adopted = self._state.restore_saved(departed, _bytes(blob), into=self.shard)
        if adopted is None:
            return  # unusable: logged, left in place for a person to look at, never merged
        # If another worker adopted it meanwhile, both now hold the series: harmless, since
        # AgentRun names are deterministic.
        if await self._checkpoint(adopt=(owner, adopted)):
            self.adopted += 1
            logger.info("adopted the detector state of departed consumer %s", owner)

    async def _read(self, start: str) -> list[Entry]:
        client = self._connect()
        block = None if start != ">" else BLOCK_MS
        response: Any = await client.xreadgroup(
            self.spec.group, self._consumer, {self.spec.stream: start}, count=self.spec.max_batch, block=block
        )
        entries: list[Entry] = []
        for _stream, items in response or []:
            entries.extend((entry_id, fields) for entry_id, fields in items if fields is not None)
        return entries

    async def _claim(self, handle: BatchHandler) -> None:
        """Take over entries other consumers left pending longer than ``claimIdle``, after adopting
        their owner's saved state (the state that has seen the entries before them)."""
        client = self._connect()
        while not self._stopping.is_set():
            pending: Any = await client.xpending_range(
                self.spec.stream,
                self.spec.group,
                min="-",
                max="+",
                count=self.spec.max_batch,
                idle=self._claim_idle_ms,
            )
            by_owner: dict[str, list[Any]] = {}
            for entry in pending:
                owner = _text(entry["consumer"])
                if owner != self._consumer:
                    by_owner.setdefault(owner, []).append(entry["message_id"])
            for owner, ids in by_owner.items():
                await self._adopt(owner)
                claimed: Any = await client.xclaim(
                    self.spec.stream, self.spec.group, self._consumer, self._claim_idle_ms, ids
                )
                entries = [(i, f) for i, f in claimed if f is not None]  # deleted entries are dropped
                self.claimed += len(entries)
                await self._process(handle, entries)
            if not by_owner or len(pending) < self.spec.max_batch:
                return

    async def _process(self, handle: BatchHandler, entries: list[Entry]) -> None:
        if not entries:
            return
        await handle([entry_payload(fields) for _, fields in entries], self.shard)
        self._unacked.extend(entry_id for entry_id, _ in entries)

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


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
