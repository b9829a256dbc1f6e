"""The Redis Streams source reads a consumer group from a real redis-server and acknowledges its work."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from naksha.models.insightstream import RedisSource as RedisSpec
from naksha.services.insight.sources.redis_streams import RedisStreamSource, entry_payload


@pytest.fixture
def stream() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"


def spec(stream: str, **overrides: Any) -> RedisSpec:
    return RedisSpec(url="redis://unused", stream=stream, group="g", max_batch=25, **overrides)


async def add(url: str, stream: str, count: int, start: int = 0) -> None:
    client = aioredis.from_url(url)
    async with client.pipeline(transaction=False) as pipe:
        for i in range(start, start + count):
            pipe.xadd(stream, {"data": json.dumps({"metric": "m", "value": i})})
        await pipe.execute()
    await client.aclose()


async def consume_until(source: RedisStreamSource, wanted: int) -> list[int]:
    seen: list[int] = []

    async def handle(payloads: list[bytes], shard: str) -> None:
        seen.extend(json.loads(p)["value"] for p in payloads)
        if len(seen) >= wanted:
            source.stop()

    await asyncio.wait_for(source.run(handle), timeout=20)
    await source.close()
    return seen


async def pending(url: str, stream: str) -> int:
    client = aioredis.from_url(url)
    try:
        return int((await client.xpending(stream, "g"))["pending"])
    finally:
        await client.aclose()


async def test_entries_are_read_by_the_group_and_acknowledged(redis_broker, stream):
    await add(redis_broker.url, stream, 60)
    seen = await consume_until(RedisStreamSource(spec(stream), url=redis_broker.url, consumer="w1"), 60)
    assert sorted(seen) == list(range(60))
    assert await pending(redis_broker.url, stream) == 0


async def test_a_failed_batch_stays_pending_and_its_consumer_rereads_it_on_restart(redis_broker, stream):
    await add(redis_broker.url, stream, 10)

    async def fail(payloads: list[bytes], shard: str) -> None:
        raise RuntimeError("the pipeline failed mid-batch")

    with pytest.raises(RuntimeError):
        await RedisStreamSource(spec(stream), url=redis_broker.url, consumer="w1").run(fail)
    assert await pending(redis_broker.url, stream) == 10
    seen = await consume_until(RedisStreamSource(spec(stream), url=redis_broker.url, consumer="w1"), 10)
    assert sorted(seen) == list(range(10))
    assert await pending(redis_broker.url, stream) == 0


async def test_entries_left_pending_by_a_dead_consumer_are_claimed_by_another(redis_broker, stream):
    await add(redis_broker.url, stream, 10)

    async def die(payloads: list[bytes], shard: str) -> None:
        raise RuntimeError("the worker died")

    with pytest.raises(RuntimeError):
        await RedisStreamSource(spec(stream), url=redis_broker.url, consumer="dead").run(die)
    await add(redis_broker.url, stream, 5, start=10)
    await asyncio.sleep(0.6)
    survivor = RedisStreamSource(spec(stream, claim_idle="500ms"), url=redis_broker.url, consumer="alive")
    seen = await consume_until(survivor, 15)
    assert sorted(seen) == list(range(15))
    assert survivor.claimed == 10


async def test_rejected_payloads_go_to_the_dead_letter_stream(redis_broker, stream):
    source = RedisStreamSource(
        spec(stream), url=redis_broker.url, consumer="w", dead_letter_stream=f"{stream}.dlq"
    )
    await source.dead_letter([b"not json", b"{}"])
    await source.close()
    client = aioredis.from_url(redis_broker.url)
    entries = await client.xrange(f"{stream}.dlq")
    await client.aclose()
    assert [fields[b"data"] for _, fields in entries] == [b"not json", b"{}"]


def test_an_entry_without_a_data_field_is_read_as_a_flat_record():
    assert json.loads(entry_payload({b"metric": b"cpu", b"value": b"0.5"})) == {
        "metric": "cpu",
        "value": "0.5",
    }
