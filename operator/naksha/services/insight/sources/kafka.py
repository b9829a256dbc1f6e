"""Kafka source: a consumer group whose offsets move only with a checkpoint of the worker's state.

``auto_offset_reset="earliest"`` so a new group reads what was produced before it joined, and
auto-commit is off. Each partition is a shard of the worker's state. Every ``checkpointInterval``
(and when partitions are revoked, and on stop) the worker saves each partition's state with the
offset it matches (``insight.state_store``), then commits those offsets; on assignment it
restores the saved state and seeks to the saved offset, which wins over the committed one (the
two differ only after a crash between saving and committing, or when no checkpoint exists). A
crash thus replays exactly the records the saved state has not seen. TLS and SASL come from the
files and variables the operator mounts (``workloads.insight``).

Where a new group starts (``startOffset``): ``earliest`` reads what the topic holds; ``latest``
seeks each partition with neither a checkpoint nor a committed offset to its end and commits that
end at once, so a worker that dies before its first batch does not move the starting point on.
What the broker can do is asked once (``kafka_broker.probe``): on Apache Kafka the dead-letter
producer is idempotent (a retried send after a lost acknowledgement writes nothing twice), records
of aborted transactions are skipped (read_committed), and ``seek_to_end`` is trusted; on a broker
without producer ids (tansu) the producer is a plain one with acks=all, and the end is taken from
the first fetch's high watermark, because its ListOffsets answer lies inside the last batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from naksha.errors import NakshaError, RetryableError
from naksha.kube import KubeError
from naksha.models.common import parse_duration
from naksha.models.insightstream import KafkaSource as KafkaSpec
from naksha.services.insight.checkpoint import StateBook, encode
from naksha.services.insight.sources import BatchHandler, ShardStore, sleep_unless
from naksha.services.insight.sources.kafka_broker import (
    BrokerCapabilities,
    probe,
    skip_to_fetched_end,
    start_at_end,
)

logger = logging.getLogger(__name__)
POLL_MS = 500
RETRY_CAP_SECONDS = 10.0
METADATA_MAX_AGE_MS = 30_000


def security_options(env: Mapping[str, str], spec: KafkaSpec) -> dict[str, Any]:
    """aiokafka connection options from the worker's environment (TLS files, SASL credentials)."""
    options: dict[str, Any] = {}
    tls = env.get("NAKSHA_KAFKA_TLS") == "true"
    if tls:
        context = ssl.create_default_context(cafile=env.get("NAKSHA_KAFKA_TLS_CA_FILE"))
        if env.get("NAKSHA_KAFKA_TLS_CERT_FILE"):
            context.load_cert_chain(env["NAKSHA_KAFKA_TLS_CERT_FILE"], env.get("NAKSHA_KAFKA_TLS_KEY_FILE"))
        if env.get("NAKSHA_KAFKA_TLS_INSECURE") == "true":
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        options["ssl_context"] = context
    if spec.sasl is not None:
        options["security_protocol"] = "SASL_SSL" if tls else "SASL_PLAINTEXT"
        options["sasl_mechanism"] = spec.sasl.mechanism
        options["sasl_plain_username"] = env.get("NAKSHA_KAFKA_SASL_USERNAME", "")
        options["sasl_plain_password"] = env.get("NAKSHA_KAFKA_SASL_PASSWORD", "")
    elif tls:
        options["security_protocol"] = "SSL"
    return options


class KafkaSource:
    pod_bound = False  # a partition's shard outlives the worker that reads it

    def __init__(
        self,
        spec: KafkaSpec,
        *,
        client_id: str,
        dead_letter_topic: str | None = None,
        env: Mapping[str, str] | None = None,
        state: StateBook | None = None,
        store: ShardStore | None = None,
        checkpoint_seconds: float = 1.0,
    ) -> None:
        self.spec = spec
        self.error: str | None = None
        self._client_id = client_id
        self._dead_letter_topic = dead_letter_topic
        self._options = security_options(os.environ if env is None else env, spec)
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._lag: float | None = None
        self._state = state if store is not None else None
        self._store = store
        self._interval = checkpoint_seconds
        self._uncommitted: dict[TopicPartition, int] = {}  # next offset, per partition handled since
        self._owned: set[TopicPartition] = set()
        self._lock = asyncio.Lock()  # a checkpoint never sees half a batch
        # Bumped by every revocation and assignment: a batch fetched before one is stale (its
        # partitions were handed over, or are about to be repositioned) and is dropped.
        self._epoch = 0
        self._to_position: set[TopicPartition] = set()  # assigned, not yet restored and positioned
        self.checkpoints = 0
        self._capabilities: BrokerCapabilities | None = None
        # New partitions of a `latest` group whose end is still to be read from a fetch (inexact brokers).
        self._end_from_fetch: set[TopicPartition] = set()

    def shard(self, partition: TopicPartition) -> str:
        return f"kafka/{self.spec.group}/{partition.topic}/{partition.partition}"

    async def capabilities(self) -> BrokerCapabilities:
        """What the broker can do, asked once; raises KafkaError while it cannot be reached."""
        if self._capabilities is None:
            self._capabilities = await probe(
                self.spec.bootstrap_servers, client_id=self._client_id, options=self._options
            )
        return self._capabilities

    async def run(self, handle: BatchHandler) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self._consume(handle)
                return
            except KafkaError as error:
                self.error = f"kafka {','.join(self.spec.bootstrap_servers)}: {error}"
                logger.warning("%s; retrying in %.1fs", self.error, delay)
                await self._close_consumer()
                await sleep_unless(self._stopping, delay)
                delay = min(delay * 2, RETRY_CAP_SECONDS)

    async def _consume(self, handle: BatchHandler) -> None:
        capabilities = await self.capabilities()
        session_ms = int(parse_duration(self.spec.session_timeout) * 1000)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.spec.bootstrap_servers,
            group_id=self.spec.group,
            client_id=self._client_id,
            enable_auto_commit=False,
            # For an offset the broker no longer holds (retention); every assigned partition is
            # positioned explicitly (`_position`) before anything fetched from it is handled.
            auto_offset_reset="earliest",
            isolation_level="read_committed" if capabilities.producer_ids else "read_uncommitted",
            session_timeout_ms=session_ms,
            # A topic created after the worker subscribed is found within this (default: 5 minutes).
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            # Kafka wants heartbeats well inside the session timeout; a third is its own default ratio.
            heartbeat_interval_ms=max(100, session_ms // 3 - 1),
            **self._options,
        )
        consumer.subscribe([self.spec.topic], listener=_Rebalance(self, consumer))
        self._consumer = consumer
        await consumer.start()
        self.error = None
        clean = False
        try:
            due = time.monotonic() + self._interval
            while not self._stopping.is_set():
                epoch = self._epoch
                batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=self.spec.max_batch)
                if self._to_position:
                    # Here, not in the listener: the batch in hand was fetched from positions
                    # aiokafka chose, and the next one comes from the restored positions.
                    await self._position(consumer)
                    continue
                async with self._lock:
                    if self._epoch != epoch:
                        continue  # fetched from partitions revoked meanwhile
                    if self._end_from_fetch:
                        batches = await skip_to_fetched_end(consumer, batches, self._end_from_fetch)
                    for partition, messages in batches.items():
                        payloads = [m.value for m in messages if m.value is not None]
                        if payloads:
                            await handle(payloads, self.shard(partition))
                        if messages:
                            self._uncommitted[partition] = messages[-1].offset + 1
                if time.monotonic() >= due:
                    due = time.monotonic() + self._interval
                    async with self._lock:
                        await self._checkpoint(consumer, set(self._uncommitted))
                self._lag = await self._measure_lag(consumer)
            clean = True
        finally:
            if clean:
                async with self._lock:
                    await self._checkpoint(consumer, set(self._uncommitted))
            # What this consumer handled past its last checkpoint is read again by the next one,
            # so its state is dropped too: the next assignment restores the saved state.
            self._drop(set(self._owned))
            await self._close_consumer()

    async def _checkpoint(self, consumer: AIOKafkaConsumer, partitions: set[TopicPartition]) -> bool:
        """Save the partitions' state with their offsets, then commit them (hold ``_lock``)."""
        offsets = {p: self._uncommitted[p] for p in partitions if p in self._uncommitted}
        if not offsets:
            return True
        checkpoints = []
        if self._state is not None and self._store is not None:
            checkpoints = [self._state.snapshot(self.shard(p), {"offset": o}) for p, o in offsets.items()]
            blobs = {checkpoint.shard: encode(checkpoint) for checkpoint in checkpoints}
            try:
                await asyncio.to_thread(self._store.save, blobs)
            except (KubeError, RetryableError, ValueError) as error:
                # Nothing is committed: the records stay in Kafka until a checkpoint covers them.
                self._state.last_error = f"saving the checkpoint failed: {error}"
                logger.error("%s", self._state.last_error)
                return False
        await consumer.commit(offsets)
        if self._state is not None:
            self._state.saved(checkpoints)
        for partition in offsets:
            del self._uncommitted[partition]
        self.checkpoints += 1
        return True

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        async with self._lock:
            self._epoch += 1
            self._owned |= partitions
            self._to_position |= partitions

    async def _position(self, consumer: AIOKafkaConsumer) -> None:
        """Restore the newly assigned partitions' saved state and position each one explicitly: at
        its checkpoint's offset, else the group's committed offset, else the beginning (or, for a
        ``latest`` group, the end).

        The reads (checkpoints, committed offsets) run without ``_lock``: on Apache Kafka a
        rebalance can start meanwhile, its listener takes the lock, and ``committed()`` waits for
        that rebalance, so holding the lock here would deadlock. Positions are applied under the
        lock, and only if no assignment or revocation happened in between (that one queued its
        partitions again).
        """
        async with self._lock:
            partitions = self._to_position & consumer.assignment()
            self._to_position.clear()
            epoch = self._epoch
        blobs: dict[str, bytes] = {}
        if self._state is not None and self._store is not None:
            try:
                blobs = await asyncio.to_thread(self._store.load, [self.shard(p) for p in partitions])
            except (KubeError, RetryableError) as error:
                # Consuming without the saved state could miss an incident: reconnect and retry.
                raise KafkaStateUnavailable(f"loading the checkpoint failed: {error}") from error
        committed = {partition: await consumer.committed(partition) for partition in partitions}
        fresh: set[TopicPartition] = set()  # neither a checkpoint nor a committed offset
        beginning: list[TopicPartition] = []
        async with self._lock:
            if self._epoch != epoch:
                return
            for partition in partitions:
                blob = blobs.get(self.shard(partition))
                checkpoint = None
                if blob is not None and self._state is not None:
                    checkpoint = self._state.restore_saved(self.shard(partition), blob)
                if checkpoint is not None:
                    consumer.seek(partition, int(checkpoint.position["offset"]))
                    self._state.saved([checkpoint])  # type: ignore[union-attr]  # its counts, as saved
                elif (offset := committed[partition]) is not None:
                    consumer.seek(partition, offset)
                elif self.spec.start_offset == "latest":
                    fresh.add(partition)
                else:
                    beginning.append(partition)
            if beginning:
                await consumer.seek_to_beginning(*beginning)
        if fresh:
            self._end_from_fetch |= await start_at_end(consumer, fresh, await self.capabilities())

    async def revoked(self, consumer: AIOKafkaConsumer, partitions: set[TopicPartition]) -> None:
        async with self._lock:
            self._epoch += 1
            self._to_position -= partitions
            if partitions:
                try:
                    await self._checkpoint(consumer, partitions)
                except KafkaError as error:
                    logger.warning("committing revoked partitions failed (%s); they are read again", error)
            self._drop(partitions)

    def _drop(self, partitions: set[TopicPartition]) -> None:
        self._owned -= partitions
        for partition in partitions:
            self._uncommitted.pop(partition, None)
        if self._state is not None:
            self._state.forget(self.shard(p) for p in partitions)

    async def _measure_lag(self, consumer: AIOKafkaConsumer) -> float | None:
        """Records behind the partitions' high watermarks (known from the last fetch, no extra request)."""
        total, known = 0, False
        for partition in consumer.assignment():
            highwater = consumer.highwater(partition)
            if highwater is None:
                continue
            total += max(0, highwater - await consumer.position(partition))
            known = True
        return float(total) if known else None

    def lag(self) -> float | None:
        return self._lag

    def stop(self) -> None:
        self._stopping.set()

    async def dead_letter(self, payloads: list[bytes]) -> None:
        if not self._dead_letter_topic or not payloads:
            return
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.spec.bootstrap_servers,
                client_id=self._client_id,
                enable_idempotence=(await self.capabilities()).producer_ids,
                acks="all",
                **self._options,
            )
            await self._producer.start()
        batch = self._producer.create_batch()
        for payload in payloads:
            if batch.append(key=None, value=payload, timestamp=None) is None:
                await self._send(batch)
                batch = self._producer.create_batch()
                batch.append(key=None, value=payload, timestamp=None)
        await self._send(batch)

    async def _send(self, batch: Any) -> None:
        assert self._producer is not None
        partitions = await self._producer.partitions_for(self._dead_letter_topic)
        future = await self._producer.send_batch(batch, self._dead_letter_topic, partition=min(partitions))
        await future

    async def close(self) -> None:
        await self._close_consumer()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _close_consumer(self) -> None:
        self._end_from_fetch.clear()
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                await consumer.stop()
            except KafkaError as error:
                logger.warning("stopping the kafka consumer: %s", error)


class KafkaStateUnavailable(NakshaError, KafkaError):  # type: ignore[misc]  # aiokafka's errors are untyped
    """The saved state of assigned partitions could not be read; consuming without it is unsafe
    (a KafkaError, so the source reconnects and the next assignment tries again)."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands partitions' state over at a rebalance: checkpoint on revoke, restore and seek on assign."""

    def __init__(self, source: KafkaSource, consumer: AIOKafkaConsumer) -> None:
        self.source = source
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.source.revoked(self.consumer, set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.source.assigned(set(assigned))
