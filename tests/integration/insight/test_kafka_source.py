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

    async def handle(payloads: list[bytes]) -> None:
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


async def test_a_batch_that_failed_is_not_committed_and_is_read_again(kafka_broker, topic):
    await produce(kafka_broker, topic, 60)
    handled: list[int] = []

    async def fail_on_the_last_record(payloads: list[bytes]) -> None:
        values = [json.loads(p)["value"] for p in payloads]
        if 59 in values:
            raise RuntimeError("the pipeline failed mid-batch")
        handled.extend(values)

    source = KafkaSource(spec(kafka_broker, topic, "g3"), client_id="w")
    with pytest.raises(RuntimeError, match="mid-batch"):
        await asyncio.wait_for(source.run(fail_on_the_last_record), timeout=30)
    await source.close()

    # At least once: the failed batch comes back whole; what was handled before stays committed.
    again = await consume_until(
        KafkaSource(spec(kafka_broker, topic, "g3"), client_id="w"), 60 - len(handled)
    )
    # Records spread over partitions, so what was handled is not a prefix: compare as sets.
    assert sorted(json.loads(p)["value"] for p in again) == sorted(set(range(60)) - set(handled))


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

    async def handle(payloads: list[bytes]) -> None:
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
