"""What the Kafka-protocol broker behind a source can do, asked once; and a `latest` start on it.

Apache Kafka grants producer ids (idempotent producers, transactions) and answers ListOffsets
with the partition's true end. Some Kafka-protocol brokers do neither: tansu, the embedded broker
of ``naksha demo``, refuses ``InitProducerId`` and answers the "latest" ListOffsets with the last
batch's base offset + 1, so a seek to the end lands inside the last batch. The one probe
(``InitProducerId`` without a transactional id, which Kafka answers at once and which reserves
nothing) tells the two apart; `KafkaSource` then uses what the broker has and works around what
it lacks. A refusal of any other kind (a principal not authorised to produce) gets the same
conservative path as a broker without producer ids: correct everywhere, merely less strict.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.transaction import InitProducerIdRequest

logger = logging.getLogger(__name__)
PROBE_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class BrokerCapabilities:
    """``producer_ids``: idempotent producers and transactions work (so read_committed is meaningful).

    ``exact_end_offsets``: ListOffsets(latest) is the partition's end, so ``seek_to_end`` can be
    trusted; otherwise the end is taken from a fetch's high watermark.
    """

    producer_ids: bool
    exact_end_offsets: bool

    @classmethod
    def full(cls) -> BrokerCapabilities:
        return cls(producer_ids=True, exact_end_offsets=True)

    @classmethod
    def minimal(cls) -> BrokerCapabilities:
        return cls(producer_ids=False, exact_end_offsets=False)


async def probe(
    bootstrap_servers: list[str], *, client_id: str, options: Mapping[str, Any]
) -> BrokerCapabilities:
    """Ask the broker for a producer id; raises KafkaError when the broker cannot be reached."""
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        request_timeout_ms=PROBE_TIMEOUT_MS,
        **options,
    )
    try:
        await client.bootstrap()
        node = client.get_random_node()
        if node is None:
            raise KafkaError("the broker listed no nodes")
        response = await client.send(
            node, InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60_000)
        )
    finally:
        await client.close()
    # A retriable error (the coordinator still loading, as on a broker just started) is a broker
    # that knows the request and will grant ids; tansu answers UNKNOWN_SERVER_ERROR.
    if response.error_code == 0 or for_code(response.error_code).retriable:
        return BrokerCapabilities.full()
    # Brokers without producer ids are also the ones known to answer ListOffsets inexactly.
    logger.info(
        "kafka %s grants no producer ids (error %s): plain dead-letter producer, read_uncommitted, "
        "end offsets from fetches",
        ",".join(bootstrap_servers),
        response.error_code,
    )
    return BrokerCapabilities.minimal()


async def start_at_end(
    consumer: AIOKafkaConsumer, assigned: set[TopicPartition], capabilities: BrokerCapabilities
) -> set[TopicPartition]:
    """Seek the assigned partitions the group never committed to their end.

    Where the broker's end offsets are exact the end is committed at once, so that the start is
    pinned even if the worker dies before its first batch. Returns the partitions whose end is
    still to be read from a fetch (`skip_to_fetched_end`), on brokers whose answer is inexact.
    """
    fresh = [tp for tp in assigned if await consumer.committed(tp) is None]
    if not fresh:
        return set()
    await consumer.seek_to_end(*fresh)
    if not capabilities.exact_end_offsets:
        return set(fresh)
    await consumer.commit({tp: await consumer.position(tp) for tp in fresh})
    return set()


async def skip_to_fetched_end(
    consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[Any]], pending: set[TopicPartition]
) -> dict[TopicPartition, list[Any]]:
    """Drop what precedes the high watermark of a pending partition's first fetch, and commit that end.

    ``pending`` loses the partitions settled here (and those no longer assigned).
    """
    pinned: dict[TopicPartition, int] = {}
    for tp in list(pending):
        if tp not in consumer.assignment():
            pending.discard(tp)
            continue
        end = consumer.highwater(tp)
        if end is None:
            continue  # not fetched yet
        batches[tp] = [record for record in batches.get(tp, []) if record.offset >= end]
        if await consumer.position(tp) < end:
            consumer.seek(tp, end)
        pinned[tp] = end
        pending.discard(tp)
    if pinned:
        await consumer.commit(pinned)
    return batches
