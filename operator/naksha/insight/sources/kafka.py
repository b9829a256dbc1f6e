"""Kafka source: a consumer group with explicit commits after each processed batch.

``auto_offset_reset="earliest"`` so a new group reads what was produced before it joined, and
auto-commit is off: offsets move only once the pipeline has finished a batch, so a crash
replays at most the batch in flight. Stopping lets the current batch finish and commit.
TLS and SASL come from the files and variables the operator mounts (``workloads.insight``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from naksha.insight.sources import BatchHandler, sleep_unless
from naksha.models.common import parse_duration
from naksha.models.insightstream import KafkaSource as KafkaSpec

logger = logging.getLogger(__name__)
POLL_MS = 500
RETRY_CAP_SECONDS = 10.0


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
        session_ms = int(parse_duration(self.spec.session_timeout) * 1000)
        consumer = AIOKafkaConsumer(
            self.spec.topic,
            bootstrap_servers=self.spec.bootstrap_servers,
            group_id=self.spec.group,
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_ms,
            # Kafka wants heartbeats well inside the session timeout; a third is its own default ratio.
            heartbeat_interval_ms=max(100, session_ms // 3 - 1),
            **self._options,
        )
        self._consumer = consumer
        await consumer.start()
        self.error = None
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=self.spec.max_batch)
                payloads = [m.value for messages in batches.values() for m in messages if m.value is not None]
                if payloads:
                    await handle(payloads)
                    await consumer.commit()
                self._lag = await self._measure_lag(consumer)
        finally:
            await self._close_consumer()

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
                bootstrap_servers=self.spec.bootstrap_servers, client_id=self._client_id, **self._options
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
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                await consumer.stop()
            except KafkaError as error:
                logger.warning("stopping the kafka consumer: %s", error)
