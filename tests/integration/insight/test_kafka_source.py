"""The Kafka source reads a consumer group from a real broker and commits only processed batches."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from naksha.insight.sources.kafka import KafkaSource
from naksha.models.insightstream import KafkaSource as KafkaSpec


def spec(broker: Any, topic: str, group: str) -> KafkaSpec:
    # A short session keeps group joins quick (the broker waits up to half of it before answering).
    return KafkaSpec(
        bootstrap_servers=[broker.bootstrap], topic=topic, group=group, max_batch=50, session_timeout="2s"
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


async def test_records_produced_before_the_group_joined_are_read_from_the_earliest_offset(
    kafka_broker, topic
):
    await produce(kafka_broker, topic, 120)
    seen = await consume_until(KafkaSource(spec(kafka_broker, topic, "g1"), client_id="w"), 120)
    assert sorted(json.loads(p)["value"] for p in seen) == list(range(120))


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


async def test_rejected_payloads_go_to_the_dead_letter_topic(kafka_broker, topic):
    source = KafkaSource(spec(kafka_broker, topic, "g4"), client_id="w", dead_letter_topic=f"{topic}.dlq")
    # The dead-letter topic must exist for the producer to find its partitions.
    await produce(kafka_broker, f"{topic}.dlq", 0)
    await source.dead_letter([b"not json", b'{"metric": 1}'])
    await source.close()
    consumer = AIOKafkaConsumer(
        f"{topic}.dlq",
        bootstrap_servers=kafka_broker.bootstrap,
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
