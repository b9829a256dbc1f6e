"""The Kafka source reads a consumer group from a real broker and commits only processed batches.

The session's broker is Apache Kafka on CI (``--kafka``); the tests marked with ``each_broker``
also run on tansu, the embedded broker of ``naksha demo``, whose gaps the source works around.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from tests.support.brokers import committed_offsets, create_topics

from naksha.models.insightstream import KafkaSource as KafkaSpec
from naksha.services.insight.sources.kafka import KafkaSource
from naksha.services.insight.sources.kafka_broker import BrokerCapabilities, probe


def spec(broker: Any, topic: str, group: str, **extra: Any) -> KafkaSpec:
    # A short session keeps group joins quick (the broker waits up to half of it before answering).
    return KafkaSpec(
        bootstrap_servers=[broker.bootstrap],
        topic=topic,
        group=group,
        max_batch=50,
        session_timeout="2s",
        **extra,
    )


async def produce(broker: Any, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        for i in range(count):
            await producer.send(topic, json.dumps({"metric": "m", "value": i}).encode())
        await producer.flush()
    finally:
        await producer.stop()


async def consume_until(source: KafkaSource, wanted: int, *, fail_on: int | None = None) -> list[bytes]:
    seen: list[bytes] = []

    async def handle(payloads: list[bytes], shard: str) -> None:
        if fail_on is not None and len(seen) + len(payloads) >= fail_on:
            raise RuntimeError("the pipeline failed mid-batch")
        seen.extend(payloads)
        if len(seen) >= wanted:
            source.stop()

    await asyncio.wait_for(source.run(handle), timeout=30)
    await source.close()
    return seen


@pytest.fixture
def topic() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["kafka_broker", "tansu_broker"], ids=["session-broker", "tansu"])
def each_broker(request: pytest.FixtureRequest) -> Any:
    """The session's broker (Apache Kafka on CI), then tansu."""
    return request.getfixturevalue(request.param)


async def test_records_produced_before_the_group_joined_are_read_from_the_earliest_offset(each_broker, topic):
    await produce(each_broker, topic, 120)
    seen = await consume_until(KafkaSource(spec(each_broker, topic, "g1"), client_id="w"), 120)
    assert sorted(json.loads(p)["value"] for p in seen) == list(range(120))
    assert sum((await committed_offsets(each_broker, "g1", topic)).values()) == 120


async def test_the_probe_tells_apache_kafka_from_a_broker_without_producer_ids(kafka_broker, tansu_broker):
    on_tansu = await probe([tansu_broker.bootstrap], client_id="w", options={})
    assert on_tansu == BrokerCapabilities.minimal()
    on_session = await probe([kafka_broker.bootstrap], client_id="w", options={})
    expected = BrokerCapabilities.full() if kafka_broker.kind == "kafka" else BrokerCapabilities.minimal()
    assert on_session == expected


async def produce_one_batch(broker: Any, topic: str, values: list[str]) -> None:
    """Records in one batch on partition 0: where tansu's end offset differs from the true end."""
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=100)
    await producer.start()
    try:
        for value in values:
            await producer.send(topic, value.encode(), partition=0)
        await producer.flush()
    finally:
        await producer.stop()


async def test_a_new_latest_group_reads_only_records_produced_after_it_joined(each_broker, topic):
    await produce_one_batch(each_broker, topic, [f"old-{i}" for i in range(50)])
    source = KafkaSource(spec(each_broker, topic, "g-latest", start_offset="latest"), client_id="w")
    seen: list[bytes] = []

    async def handle(payloads: list[bytes], *_: Any) -> None:
        seen.extend(payloads)
        if any(p == b"new-4" for p in seen):
            source.stop()

    task = asyncio.create_task(source.run(handle))
    # The start is pinned by a commit at the end before any new record exists.
    for _ in range(150):
        if (await committed_offsets(each_broker, "g-latest", topic)).get(0) == 50:
            break
        await asyncio.sleep(0.1)
    assert (await committed_offsets(each_broker, "g-latest", topic)).get(0) == 50
    await produce_one_batch(each_broker, topic, [f"new-{i}" for i in range(5)])
    await asyncio.wait_for(task, timeout=30)
    await source.close()
    assert seen == [f"new-{i}".encode() for i in range(5)]


async def test_tansu_alone_would_replay_the_last_batch_to_a_latest_consumer(tansu_broker, topic):
    """Why the source does not rely on ListOffsets there: tansu's end lies inside the last batch."""
    await produce_one_batch(tansu_broker, topic, [f"old-{i}" for i in range(50)])
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=tansu_broker.bootstrap,
        group_id="naive",
        auto_offset_reset="latest",
        enable_auto_commit=False,
        session_timeout_ms=2000,
    )
    await consumer.start()
    try:
        replayed = await consumer.getmany(timeout_ms=3000)
        end = await consumer.end_offsets([TopicPartition(topic, 0)])
    finally:
        await consumer.stop()
    assert sum(len(records) for records in replayed.values()) == 49
    assert end[TopicPartition(topic, 0)] == 1


async def test_a_latest_group_that_has_committed_resumes_where_it_was(kafka_broker, topic):
    await produce(kafka_broker, topic, 10)
    await consume_until(KafkaSource(spec(kafka_broker, topic, "g-resume"), client_id="w"), 10)
    await produce(kafka_broker, topic, 7)
    latest = KafkaSource(spec(kafka_broker, topic, "g-resume", start_offset="latest"), client_id="w")
    # Committed offsets win over startOffset: the 7 records produced while no worker ran are read.
    assert len(await consume_until(latest, 7)) == 7


async def test_a_restarted_consumer_resumes_after_the_last_committed_batch(kafka_broker, topic):
    await produce(kafka_broker, topic, 100)
    first = await consume_until(KafkaSource(spec(kafka_broker, topic, "g2"), client_id="w"), 100)
    await produce(kafka_broker, topic, 10)
    second = await consume_until(KafkaSource(spec(kafka_broker, topic, "g2"), client_id="w"), 10)
    assert len(first) == 100
    assert sorted(json.loads(p)["value"] for p in second) == list(range(10))


async def consume_until_quiet(source: KafkaSource, quiet: float = 3.0) -> list[bytes]:
    """Everything the source hands out until nothing new came for ``quiet`` seconds."""
    seen: list[bytes] = []

    async def handle(payloads: list[bytes], shard: str) -> None:
        seen.extend(payloads)

    task = asyncio.create_task(source.run(handle))
    count, deadline = -1, asyncio.get_running_loop().time() + 30
    while (count != len(seen) or not seen) and asyncio.get_running_loop().time() < deadline:
        count = len(seen)
        await asyncio.sleep(quiet)
    source.stop()
    await asyncio.wait_for(task, timeout=30)
    await source.close()
    return seen


async def test_records_handled_after_the_last_checkpoint_are_read_again_after_a_failure(kafka_broker, topic):
    await produce(kafka_broker, topic, 60)
    committed: set[int] = set()
    # Checkpointing after every poll; the pipeline fails in the poll after the first checkpoint.
    source = KafkaSource(spec(kafka_broker, topic, "g3"), client_id="w", checkpoint_seconds=0)

    async def fail_after_the_first_checkpoint(payloads: list[bytes], shard: str) -> None:
        if source.checkpoints:
            raise RuntimeError("the pipeline failed mid-batch")
        committed.update(json.loads(p)["value"] for p in payloads)

    with pytest.raises(RuntimeError, match="mid-batch"):
        await asyncio.wait_for(source.run(fail_after_the_first_checkpoint), timeout=30)
    await source.close()

    again = await consume_until_quiet(KafkaSource(spec(kafka_broker, topic, "g3"), client_id="w"))
    # At least once, and no more: exactly what the checkpoint did not cover comes back.
    assert committed and sorted(json.loads(p)["value"] for p in again) == sorted(set(range(60)) - committed)


async def test_rejected_payloads_go_to_the_dead_letter_topic(each_broker, topic):
    source = KafkaSource(spec(each_broker, topic, "g4"), client_id="w", dead_letter_topic=f"{topic}.dlq")
    # The dead-letter topic must exist for the producer to find its partitions.
    await create_topics(each_broker, f"{topic}.dlq")
    await source.dead_letter([b"not json", b'{"metric": 1}'])
    # Idempotent where the broker grants producer ids (Apache Kafka), a plain acks=all one elsewhere.
    assert source._producer is not None
    assert (source._producer._txn_manager is not None) == each_broker.idempotent_producer
    await source.close()
    consumer = AIOKafkaConsumer(
        f"{topic}.dlq",
        bootstrap_servers=each_broker.bootstrap,
        group_id="dlq-reader",
        auto_offset_reset="earliest",
        session_timeout_ms=2000,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=5000)
        values = [m.value for messages in batches.values() for m in messages]
    finally:
        await consumer.stop()
    assert values == [b"not json", b'{"metric": 1}']


async def test_an_unreachable_broker_is_reported_as_the_source_error():
    from tests.support import free_port

    source = KafkaSource(
        KafkaSpec(bootstrap_servers=[f"127.0.0.1:{free_port()}"], session_timeout="2s"), client_id="w"
    )

    async def handle(payloads: list[bytes], shard: str) -> None:
        raise AssertionError("nothing can be read")

    task = asyncio.create_task(source.run(handle))
    try:
        for _ in range(100):
            if source.error:
                break
            await asyncio.sleep(0.1)
        assert source.error and "kafka 127.0.0.1" in source.error
    finally:
        source.stop()
        await asyncio.wait_for(task, timeout=15)
        await source.close()


async def test_records_of_an_aborted_transaction_are_never_handed_to_the_pipeline(kafka_broker, topic):
    if kafka_broker.kind != "kafka":
        pytest.skip("tansu has no transactions (it grants no producer ids)")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, transactional_id=f"tx-{topic}")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b'{"metric": "m", "value": 1}', partition=0)
        with pytest.raises(RuntimeError, match="abandoned"):
            async with producer.transaction():
                await producer.send(topic, b'{"metric": "m", "value": 666}', partition=0)
                await producer.flush()
                raise RuntimeError("abandoned")
        async with producer.transaction():
            await producer.send(topic, b'{"metric": "m", "value": 2}', partition=0)
    finally:
        await producer.stop()
    seen = await consume_until(KafkaSource(spec(kafka_broker, topic, "g-tx"), client_id="w"), 2)
    assert [json.loads(p)["value"] for p in seen] == [1, 2]
