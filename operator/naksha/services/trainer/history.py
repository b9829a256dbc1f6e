"""The streams' history over a training window, replayed from where each kind of source keeps it.

- **Redis**: ``XRANGE`` from the window's first entry id (ids are millisecond timestamps).
- **Kafka**: every partition of the source topic, read from the window's start to the training's
  start. Where the broker answers ListOffsets exactly (Apache Kafka), the start is found by
  timestamp (``offsets_for_times``) and the end by ``end_offsets``. Brokers whose ListOffsets
  answers cannot be trusted (tansu: no timestamp lookup, an end inside the last batch — the same
  ``kafka_broker.probe`` the worker uses tells them apart) are read from the beginning, records
  before the window are dropped by their timestamp, and a partition ends at the high watermark
  its fetches report. A partition whose end never becomes known stops after ``IDLE_POLLS`` empty
  polls in a row, and the log names it.
- **HTTP push**: nothing upstream keeps what producers pushed, so each worker keeps a bounded
  on-disk ring of the samples it accepted (``naksha.services.insight.history_ring``) and serves
  it on ``GET /history``; the trainer asks every worker that reports the endpoint in the stream's
  status, because a Service would reach one replica and each replica holds only its own share.
  The worker authorises the read like ``/ingest``: a TokenReview bound to the audience
  ``HISTORY_AUDIENCE`` and a SubjectAccessReview for ``get insightstreams/history`` on the
  stream. The trainer asks the TokenRequest API for such a token for its own ServiceAccount, so
  the token a worker sees is good for nothing else (not the API server, not another stream's
  ingest).

Records come back parsed with the stream's ``mapping`` (Kafka, Redis) or as the worker parsed
them (HTTP), in no particular order: the tuner sorts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from naksha.domain.insight.records import ParseResult, Record, RecordParser
from naksha.domain.learning.training import TrainingError
from naksha.kube import Kube
from naksha.models.insightstream import InsightStreamSpec
from naksha.models.insightstream import KafkaSource as KafkaSpec
from naksha.models.resources import SECRETS
from naksha.services.insight.history_ring import HISTORY_AUDIENCE, decode_line

logger = logging.getLogger(__name__)
MAX_HISTORY = 2_000_000
KAFKA_POLL_MS = 500
IDLE_POLLS = 6  # empty polls in a row (3 s) after which a partition of unknown end is taken as read
HTTP_TIMEOUT_SECONDS = 60.0


def replay_redis(kube: Kube, namespace: str, spec: InsightStreamSpec, since: float) -> list[Record]:
    import redis

    from naksha.services.insight.sources.redis_streams import entry_payload

    source = spec.source.redis
    assert source is not None
    url = source.url
    if url is None and source.url_secret_ref is not None:
        import base64

        secret = kube.get(SECRETS, namespace, source.url_secret_ref.name)
        url = base64.b64decode(secret["data"][source.url_secret_ref.key]).decode()
    client = redis.Redis.from_url(str(url))
    parser = RecordParser(spec.mapping)
    result = ParseResult()
    start = f"{int(since * 1000)}-0"
    read = 0
    while read < MAX_HISTORY:
        entries: Any = client.xrange(source.stream, min=start, count=10_000)
        if not entries:
            break
        for _entry_id, fields in entries:
            parser.parse_into(entry_payload(fields), time.time(), result)
        read += len(entries)
        last = entries[-1][0].decode()
        millis, _, sequence = last.partition("-")
        start = f"{millis}-{int(sequence) + 1}"
    client.close()
    return list(result.records)


def replay_kafka(spec: InsightStreamSpec, since: float, until: float) -> list[Record]:
    source = spec.source.kafka
    assert source is not None
    if source.tls is not None or source.sasl is not None:
        # The trainer pod mounts no broker credentials (they are the stream's workers' own).
        raise TrainingError(
            "replaying a Kafka source with tls or sasl is not supported"
            " (the trainer has no broker credentials)"
        )
    return asyncio.run(_replay_kafka(source, RecordParser(spec.mapping), since, until))


async def _replay_kafka(source: KafkaSpec, parser: RecordParser, since: float, until: float) -> list[Record]:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError

    from naksha.services.insight.sources.kafka_broker import probe

    client_id = f"naksha-trainer-{os.getpid()}"
    try:
        capabilities = await probe(source.bootstrap_servers, client_id=client_id, options={})
    except KafkaError as error:
        raise TrainingError(
            f"Kafka {','.join(source.bootstrap_servers)} cannot be reached: {error}"
        ) from None
    consumer = AIOKafkaConsumer(
        bootstrap_servers=source.bootstrap_servers,
        client_id=client_id,
        group_id=None,  # no group: nothing is committed, the workers' offsets stay theirs
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed" if capabilities.producer_ids else "read_uncommitted",
    )
    partitions = await topic_partitions(source.bootstrap_servers, source.topic, client_id)
    await consumer.start()
    try:
        assigned = [TopicPartition(source.topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        since_ms, until_ms = int(since * 1000), int(until * 1000)
        ends: dict[Any, int] = {}
        if capabilities.exact_end_offsets:
            starts = await consumer.offsets_for_times({tp: since_ms for tp in assigned})
            ends = await consumer.end_offsets(assigned)
            pending = set()
            for tp in assigned:
                found = starts.get(tp)
                if found is not None and found.offset < ends[tp]:
                    consumer.seek(tp, found.offset)
                    pending.add(tp)
        else:
            await consumer.seek_to_beginning(*assigned)
            pending = set(assigned)
        result = ParseResult()
        read, idle = 0, 0
        while pending and read < MAX_HISTORY:
            batches = await consumer.getmany(*pending, timeout_ms=KAFKA_POLL_MS, max_records=10_000)
            idle = 0 if any(batches.values()) else idle + 1
            for tp, messages in batches.items():
                for message in messages:
                    if 0 <= message.timestamp < since_ms:
                        continue  # before the window (brokers read from the beginning)
                    if message.timestamp >= until_ms:
                        pending.discard(tp)  # produced after the training started
                        break
                    read += 1
                    if message.value is not None:
                        parser.parse_into(message.value, message.timestamp / 1000, result)
            for tp in list(pending):
                end = ends.get(tp) if ends else consumer.highwater(tp)
                if end is not None and await consumer.position(tp) >= end:
                    pending.discard(tp)
            if idle >= IDLE_POLLS:
                logger.warning(
                    "kafka replay: no end known for %s after %d empty polls; taking them as read",
                    sorted(tp.partition for tp in pending),
                    idle,
                )
                break
        logger.info(
            "kafka replay of %s: %d records in the window (%s)",
            source.topic,
            len(result.records),
            "offsets by timestamp" if capabilities.exact_end_offsets else "scan from the beginning",
        )
        return list(result.records)
    finally:
        await consumer.stop()


async def topic_partitions(bootstrap_servers: list[str], topic: str, client_id: str) -> set[int]:
    """The topic's partitions, from the cluster's metadata (a consumer without a group knows none)."""
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, client_id=client_id)
    try:
        await client.bootstrap()
        cluster = await client.fetch_all_metadata()
    finally:
        await client.close()
    partitions = cluster.partitions_for_topic(topic)
    if not partitions:
        raise TrainingError(f"Kafka topic {topic!r} does not exist")
    return set(partitions)


def history_endpoints(stream_status: Mapping[str, Any]) -> list[str]:
    """The ``/history`` URLs the stream's workers report (each worker's own ring)."""
    urls = []
    for report in (stream_status.get("workers") or {}).values():
        url = ((report or {}).get("history") or {}).get("url")
        if isinstance(url, str) and url:
            urls.append(url)
    return sorted(set(urls))


def replay_http(
    stream: str, stream_status: Mapping[str, Any], token: str, since: float, until: float
) -> list[Record]:
    urls = history_endpoints(stream_status)
    if not urls:
        raise TrainingError(
            f"InsightStream {stream!r}: no worker reports a history ring (GET /history); "
            "is a worker running and reporting?"
        )
    records: list[Record] = []
    unreachable = []
    for url in urls:
        query = urllib.parse.urlencode({"since": f"{since:.3f}", "until": f"{until:.3f}"})
        request = urllib.request.Request(f"{url}?{query}", headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
                for line in response:
                    record = decode_line(line)
                    if record is not None:
                        records.append(record)
                        if len(records) >= MAX_HISTORY:
                            return records
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:300]
            with contextlib.suppress(ValueError):
                detail = json.loads(detail).get("error", detail)
            raise TrainingError(
                f"{url}: the worker refused the history read ({error.code}): {detail}"
            ) from None
        except OSError as error:
            # A worker that went away since it reported: its ring is out of reach, the rest is not.
            logger.warning(
                "history of %s: %s unreachable (%s); training without its share", stream, url, error
            )
            unreachable.append(url)
    if len(unreachable) == len(urls):
        raise TrainingError(
            f"InsightStream {stream!r}: no worker's history could be read ({', '.join(urls)})"
        )
    return records


__all__ = ["HISTORY_AUDIENCE", "history_endpoints", "replay_http", "replay_kafka", "replay_redis"]
