"""Where checkpoints live, and what a source does with them: the stream's ConfigMap (Kafka), Redis hashes.

Sources run in-process here, with a real ``StateBook`` and real brokers, so a test can stop one
at an exact point (a checkpoint saved and its offsets not committed; a consumer gone with
entries pending) and look at what the next one does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from kubernetes import client

from naksha.domain.insight.detectors import DetectorBank
from naksha.domain.insight.records import Record
from naksha.models.insightstream import Detector
from naksha.models.insightstream import KafkaSource as KafkaSpec
from naksha.models.insightstream import RedisSource as RedisSpec
from naksha.services.insight.checkpoint import StateBook, decode, encode
from naksha.services.insight.sources.kafka import KafkaSource
from naksha.services.insight.sources.redis_streams import RedisStreamSource, counts_key, state_key
from naksha.services.insight.state_store import ConfigMapStore, StateTooLarge, shard_key, state_name

DETECTOR = Detector.model_validate(
    {"name": "ceiling", "metric": "m", "method": "threshold", "params": {"threshold": {"above": 500}}}
)


@pytest.fixture
def namespace(svc_stream_namespace: str) -> str:
    return svc_stream_namespace


def book() -> StateBook:
    return StateBook(DetectorBank([DETECTOR]), {})


def values(payloads: list[bytes]) -> list[int]:
    return [int(json.loads(p)["value"]) for p in payloads]


class Recorder:
    """A pipeline stand-in: feeds the detectors and counts as the real one does, and records what it saw."""

    def __init__(self, state: StateBook) -> None:
        self.state = state
        self.seen: list[int] = []

    async def __call__(self, payloads: list[bytes], shard: str) -> None:
        self.state.bank.set_shard(shard)
        for value in values(payloads):
            self.state.bank.observe(Record(ts=1_800_000_000.0 + value, metric="m", value=float(value)))
        self.state.counts_for(shard)["ingested"] += len(payloads)
        self.seen.extend(values(payloads))

    def count(self) -> int:
        return sum(state.count for state in self.state.bank.runners[0].series.values())


async def produce(bootstrap: str, topic: str, numbers: range) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for number in numbers:
            await producer.send(topic, json.dumps({"metric": "m", "value": number}).encode(), partition=0)
        await producer.flush()
    finally:
        await producer.stop()


class Killed(Exception):
    """Stands for the process dying at that point."""


class SavedThenCrashed(ConfigMapStore):
    """Saves the checkpoint, then the process dies before the offsets are committed."""

    def save(self, blobs: Any) -> None:
        super().save(blobs)
        raise Killed("between saving the checkpoint and committing")


async def test_a_checkpoint_saved_but_not_committed_is_where_the_next_kafka_reader_starts(
    kafka_broker, kube, namespace
):
    topic = f"cp-{uuid.uuid4().hex[:6]}"
    await produce(kafka_broker.bootstrap, topic, range(40))
    spec = KafkaSpec(bootstrap_servers=[kafka_broker.bootstrap], topic=topic, group="g", session_timeout="2s")
    first = Recorder(book())
    crashed = SavedThenCrashed(kube, namespace=namespace, stream="svc")
    source = KafkaSource(spec, client_id="w", state=first.state, store=crashed, checkpoint_seconds=0)
    with pytest.raises(Killed):
        await asyncio.wait_for(source.run(first), timeout=30)
    await source.close()
    assert first.seen  # handled, saved, never committed

    await produce(kafka_broker.bootstrap, topic, range(40, 50))
    second = Recorder(book())
    store = ConfigMapStore(kube, namespace=namespace, stream="svc")
    source = KafkaSource(spec, client_id="w", state=second.state, store=store, checkpoint_seconds=0)
    task = asyncio.create_task(source.run(second))
    while len(first.seen) + len(second.seen) < 50:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)  # time to read a record twice, if it were to happen
    # Exactly the records the saved state had not seen, and the state goes on from the saved one.
    assert sorted(first.seen + second.seen) == list(range(50)), (first.seen, second.seen)
    assert second.count() == 50 and second.state.counts[f"kafka/g/{topic}/0"]["ingested"] == 50
    source.stop()
    await asyncio.wait_for(task, timeout=30)
    await source.close()


async def test_the_state_config_map_is_owned_by_the_stream_with_one_key_per_shard(
    api_client, kube, namespace
):
    store = ConfigMapStore(kube, namespace=namespace, stream="svc")
    state = book()
    state.bank.set_shard("kafka/g/t/0")
    state.bank.observe(Record(ts=1.0, metric="m", value=1.0))
    store.save({"kafka/g/t/0": encode(state.snapshot("kafka/g/t/0", {"offset": 1}))})
    store.save({"kafka/g/t/1": encode(state.snapshot("kafka/g/t/1", {"offset": 9}))})
    found = client.CoreV1Api(api_client).read_namespaced_config_map(state_name("svc"), namespace)
    assert found.metadata.owner_references[0].kind == "InsightStream"
    assert (
        sorted(found.binary_data)
        == [shard_key("kafka/g/t/0"), shard_key("kafka/g/t/1")]
        == ["kafka.g.t.0", "kafka.g.t.1"]
    )
    loaded = ConfigMapStore(kube, namespace=namespace, stream="svc").load(["kafka/g/t/0", "kafka/g/t/2"])
    assert list(loaded) == ["kafka/g/t/0"] and decode(loaded["kafka/g/t/0"]).position == {"offset": 1}


def test_a_checkpoint_too_large_for_all_the_state_config_maps_is_refused_with_the_reason(
    api_client, kube, namespace
):
    store = ConfigMapStore(kube, namespace=namespace, stream="svc")
    # Larger than one ConfigMap: spilled (test_checkpoint_spill); larger than all of them: refused.
    with pytest.raises(StateTooLarge, match="more than one ConfigMap holds and more than its 32 spill"):
        store.save({"kafka/g/t/0": bytes(24_000_000)})
    with pytest.raises(client.ApiException, match="Not Found"):  # nothing was written
        client.CoreV1Api(api_client).read_namespaced_config_map(state_name("svc"), namespace)


@pytest.fixture
def stream() -> str:
    return f"cs-{uuid.uuid4().hex[:8]}"


async def add(url: str, stream: str, numbers: range) -> None:
    r = aioredis.from_url(url)
    for number in numbers:
        await r.xadd(stream, {"data": json.dumps({"metric": "m", "value": number})})
    await r.aclose()


async def run_until(source: RedisStreamSource, recorder: Recorder, wanted: int) -> None:
    task = asyncio.create_task(source.run(recorder))
    for _ in range(300):
        if len(recorder.seen) >= wanted:
            break
        await asyncio.sleep(0.05)
    source.stop()
    await asyncio.wait_for(task, timeout=20)
    await source.close()


async def test_a_crashed_redis_consumers_state_and_pending_entries_move_to_the_next_one(redis_broker, stream):
    spec = RedisSpec(url=redis_broker.url, stream=stream, group="g", claim_idle="1s", max_batch=10)
    await add(redis_broker.url, stream, range(30))
    first = Recorder(book())
    source = RedisStreamSource(
        spec, url=redis_broker.url, consumer="w-1", state=first.state, checkpoint_seconds=0
    )
    await run_until(source, first, 30)  # a clean stop: checkpointed, and w-1 left the group
    await add(redis_broker.url, stream, range(30, 35))
    # w-2 reads the 5 new entries and dies before its checkpoint (its task is cancelled, no cleanup).
    crashed = Recorder(book())
    dying = RedisStreamSource(
        spec, url=redis_broker.url, consumer="w-2", state=crashed.state, checkpoint_seconds=3600
    )
    task = asyncio.create_task(dying.run(crashed))
    while len(crashed.seen) < 5:
        await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await dying.close()
    assert crashed.count() == 35  # w-2 had adopted w-1's state before reading

    heir = Recorder(book())
    source = RedisStreamSource(
        spec, url=redis_broker.url, consumer="w-3", state=heir.state, checkpoint_seconds=0
    )
    await run_until(source, heir, 5)
    # w-3 adopted the saved state (35 - 5 samples: w-2 never saved) and replayed w-2's 5 pending entries.
    assert sorted(heir.seen) == list(range(30, 35)) and heir.count() == 35
    r = aioredis.from_url(redis_broker.url)
    try:
        assert (await r.xpending(stream, "g"))["pending"] == 0
        assert int((await r.hgetall(counts_key(stream, "g")))[b"ingested"]) == 35
        # w-2's saved state is gone (adopted); w-3 stopped cleanly, its state waits for its heir.
        assert list(await r.hkeys(state_key(stream, "g"))) == [b"w-3"]
    finally:
        await r.aclose()


async def test_an_unreadable_redis_checkpoint_is_logged_and_the_consumer_starts_afresh(
    redis_broker, stream, caplog
):
    spec = RedisSpec(url=redis_broker.url, stream=stream, group="g", max_batch=10)
    await add(redis_broker.url, stream, range(12))
    r = aioredis.from_url(redis_broker.url)
    await r.xgroup_create(stream, "g", id="0")
    await r.hset(state_key(stream, "g"), "w-1", b"\x78\x9cnot a checkpoint")
    await r.aclose()
    recorder = Recorder(book())
    source = RedisStreamSource(
        spec, url=redis_broker.url, consumer="w-1", state=recorder.state, checkpoint_seconds=0
    )
    with caplog.at_level(logging.ERROR):
        await run_until(source, recorder, 12)
    assert "the checkpoint of redis/g/w-1 cannot be used" in caplog.text
    assert sorted(recorder.seen) == list(range(12)) and recorder.count() == 12
