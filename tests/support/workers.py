"""Insight workers as real processes, and the telemetry feeds they read, for crash and restart tests.

``WorkerProcess`` runs ``python -m naksha insight-worker`` as a pod would (its environment, a
fixed consumer name), so a test can SIGKILL it at a chosen moment and start it again.
``KafkaFeed`` and ``RedisFeed`` send records to a real broker and say how many the worker's
group has acknowledged, the one number that tells a test what a crash will replay.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from kubernetes import client
from tests.support import ROOT, eventually, free_port

from naksha.models.group import GROUP, VERSION

SERIES = {"svc": "api"}


def telemetry(start: float, values: list[float], *, first: int = 0) -> list[dict[str, Any]]:
    """One series' samples, a second apart from ``start + first``."""
    return [
        {"ts": start + first + i, "metric": "latency", "value": value, "labels": SERIES}
        for i, value in enumerate(values)
    ]


def normal(count: int) -> list[float]:
    """A steady, slightly noisy series (an EWMA baseline needs some spread)."""
    return [100.0 + i % 5 for i in range(count)]


class WorkerProcess:
    """One ``naksha insight-worker`` process; ``start`` again after ``kill`` is a container restart."""

    def __init__(
        self, log_dir: Path, kubeconfig: Path, *, namespace: str, stream: str, spec: dict[str, Any], name: str
    ) -> None:
        self.log_dir = log_dir
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.stream = stream
        self.spec = spec
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log: Path | None = None
        self.starts = 0

    def start(self, **extra_env: str) -> WorkerProcess:
        self.starts += 1
        self.port = free_port()
        self.log = self.log_dir / f"{self.name}-{self.starts}.log"
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PYTHONPATH": str(ROOT / "operator"),
            "NAKSHA_STREAM_NAME": self.stream,
            "NAKSHA_STREAM_NAMESPACE": self.namespace,
            "NAKSHA_INSIGHT_SPEC": json.dumps(self.spec),
            "NAKSHA_HTTP_PORT": str(self.port),
            "HOSTNAME": self.name,
            **extra_env,
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "naksha", "insight-worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait_for_crash(self, timeout: float = 120) -> None:
        """Wait for the worker to die at its crash point (``NAKSHA_CRASH_POINT``): by SIGKILL."""
        assert self.process is not None
        assert self.process.wait(timeout=timeout) == -signal.SIGKILL, self.output()

    def stop(self) -> int:
        """SIGTERM: the worker finishes its batch, checkpoints and exits; returns its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log is not None else ""

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        eventually(lambda: text in self.output(), timeout=timeout, interval=0.1)

    def metric(self, line_start: str) -> float | None:
        """The value of the first /metrics line starting with ``line_start`` (None: not there yet)."""
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5).read().decode()
        except OSError:
            return None
        for line in body.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return None


class KafkaFeed:
    """A topic (records keyed by series, as producers should) and the worker group's commits."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.sent = 0
        self.send([])  # the topic exists before the group joins

    def source(self) -> dict[str, Any]:
        kafka = {"bootstrapServers": [self.bootstrap], "topic": self.topic, "group": self.group}
        return {"type": "kafka", "kafka": {**kafka, "sessionTimeout": "2s"}}

    def send(self, records: list[Any]) -> None:
        async def produce() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
            await producer.start()
            try:
                for record in records:
                    value = record if isinstance(record, bytes) else json.dumps(record).encode()
                    await producer.send(self.topic, value, key=b"latency{svc=api}")
                await producer.flush()
            finally:
                await producer.stop()

        asyncio.run(produce())
        self.sent += len(records)

    def acknowledged(self) -> int:
        async def committed() -> int:
            # Apache Kafka answers the admin API's OffsetFetch for the whole group (a consumer that
            # is not a member sees no partitions there); tansu cannot decode it, and answers a
            # consumer of the group instead.
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            try:
                await admin.start()
                offsets = await admin.list_consumer_group_offsets(self.group)
                return sum(
                    meta.offset for tp, meta in offsets.items() if tp.topic == self.topic and meta.offset > 0
                )
            except Exception:
                pass
            finally:
                await admin.close()
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False
            )
            await consumer.start()
            try:
                await consumer.topics()  # refreshes the metadata that lists the partitions
                partitions = consumer.partitions_for_topic(self.topic) or set()
                offsets = [await consumer.committed(TopicPartition(self.topic, p)) for p in partitions]
                return sum(offset or 0 for offset in offsets)
            finally:
                await consumer.stop()

        return asyncio.run(committed())


class RedisFeed:
    """A Redis stream and what the worker group has acknowledged of it."""

    def __init__(self, url: str, stream: str, group: str) -> None:
        self.url = url
        self.stream = stream
        self.group = group
        self.sent = 0
        self.client = redis.Redis.from_url(url)

    def source(self) -> dict[str, Any]:
        return {"type": "redis", "redis": {"url": self.url, "stream": self.stream, "group": self.group}}

    def send(self, records: list[Any]) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            for record in records:
                pipe.xadd(self.stream, {"data": record if isinstance(record, bytes) else json.dumps(record)})
            pipe.execute()
        self.sent += len(records)

    def acknowledged(self) -> int:
        for group in self.client.xinfo_groups(self.stream):
            if group["name"].decode() == self.group:
                return int(group["entries-read"] or 0) - int(group["pending"])
        return 0


def wait_until_acknowledged(feed: KafkaFeed | RedisFeed, count: int, timeout: float = 60) -> None:
    eventually(lambda: feed.acknowledged() == count, timeout=timeout, interval=0.3)


def settle(seconds: float) -> None:
    """Give a worker time to do something it must not do (a second AgentRun)."""
    time.sleep(seconds)


def create_stream(api_client: client.ApiClient, namespace: str, name: str, spec: dict[str, Any]) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InsightStream",
        "metadata": {"name": name},
        "spec": spec,
    }
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "insightstreams", body
    )


def agent_runs(api_client: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    return client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        GROUP, VERSION, namespace, "agentruns"
    )["items"]


def worker_env(namespace: str, name: str, spec: dict[str, Any], port: int, **extra: str) -> dict[str, str]:
    return {
        "NAKSHA_STREAM_NAME": name,
        "NAKSHA_STREAM_NAMESPACE": namespace,
        "NAKSHA_INSIGHT_SPEC": json.dumps(spec),
        "NAKSHA_HTTP_PORT": str(port),
        "HOSTNAME": f"{name}-worker-0",
        **extra,
    }
