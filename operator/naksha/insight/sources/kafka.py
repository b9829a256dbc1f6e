"""Kafka source: a consumer group with explicit commits after each processed batch.

Auto-commit is off: offsets move only once the pipeline has finished a batch, so a crash
replays at most the batch in flight. Stopping lets the current batch finish and commit.
TLS and SASL come from the files and variables the operator mounts (``workloads.insight``).

Where a group starts (``startOffset``): ``earliest`` reads what the topic holds; ``latest``
seeks each partition the group has no offset for to its end and commits that end at once, so a
worker that dies before its first batch does not move the starting point on. What the broker
can do is asked once (`kafka_broker.probe`): on Apache Kafka the dead-letter producer is
idempotent (a retried send after a lost acknowledgement writes nothing twice), records of
aborted transactions are skipped (read_committed), and ``seek_to_end`` is trusted; on a broker
without producer ids (tansu) the producer is a plain one with acks=all, and the end is taken from
the first fetch's high watermark, because its ListOffsets answer lies inside the last batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from naksha.insight.sources import BatchHandler, sleep_unless
from naksha.insight.sources.kafka_broker import (
    BrokerCapabilities,
    probe,
    skip_to_fetched_end,
    start_at_end,
)
from naksha.models.common import parse_duration
from naksha.models.insightstream import KafkaSource as KafkaSpec

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
    def __init__(
        self,
        spec: KafkaSpec,
        *,
        client_id: str,
        dead_letter_topic: str | None = None,
        env: Mapping[str, str] | None = None,
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
        self._capabilities: BrokerCapabilities | None = None
        # New partitions of a `latest` group whose end is still to be read from a fetch (inexact brokers).
        self._end_from_fetch: set[TopicPartition] = set()

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
            # For an offset the broker no longer holds (retention); new partitions of a `latest`
            # group are moved to the end by `_StartAtEnd` before anything is fetched.
            auto_offset_reset="earliest",
            isolation_level="read_committed" if capabilities.producer_ids else "read_uncommitted",
            session_timeout_ms=session_ms,
            # A topic created after the worker subscribed is found within this (default: 5 minutes).
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            # Kafka wants heartbeats well inside the session timeout; a third is its own default ratio.
            heartbeat_interval_ms=max(100, session_ms // 3 - 1),
            **self._options,
        )
        self._consumer = consumer
        await consumer.start()
        listener = _StartAtEnd(self, consumer) if self.spec.start_offset == "latest" else None
        consumer.subscribe([self.spec.topic], listener=listener)
        self.error = None
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=self.spec.max_batch)
                if self._end_from_fetch:
                    batches = await skip_to_fetched_end(consumer, batches, self._end_from_fetch)
                payloads = [m.value for messages in batches.values() for m in messages if m.value is not None]
                if payloads:
                    await handle(payloads)
                    await consumer.commit()
                self._lag = await self._measure_lag(consumer)
        finally:
            await self._close_consumer()

    async def start_new_partitions_at_end(
        self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]
    ) -> None:
        """For a `latest` group: its never-committed partitions start at their end (see `kafka_broker`)."""
        self._end_from_fetch |= await start_at_end(consumer, assigned, await self.capabilities())

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


class _StartAtEnd(ConsumerRebalanceListener):  # type: ignore[misc]
    """Moves a `latest` group's newly assigned, never committed partitions to their end."""

    def __init__(self, source: KafkaSource, consumer: AIOKafkaConsumer) -> None:
        self._source = source
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Nothing to flush: offsets are committed after every batch, before the next poll.
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._source.start_new_partitions_at_end(self._consumer, assigned)
