"""Benchmark: how long an insight worker takes to recover after a SIGKILL, with its detector state.

For Kafka (tansu) and Redis Streams (redis-server), each round:
  1. a worker (a real ``naksha insight-worker`` process) reads a history of ``--series`` series x
     ``--samples`` samples with three detectors each (threshold, ewma, rate), checkpoints it and
     stops (SIGTERM);
  2. a worker that checkpoints rarely handles a tail of ``--tail`` more records and is SIGKILLed
     before acknowledging them;
  3. a new worker starts: the figures are the time from its start to answering ``/health``, and to
     having restored the state, replayed the tail and acknowledged everything (caught up).
Prints medians over ``--rounds`` rounds, and the size of one checkpoint of that state.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

from kubernetes import client, config  # noqa: E402
from tests.support import eventually  # noqa: E402
from tests.support.brokers import RedisServer, Tansu  # noqa: E402
from tests.support.workers import KafkaFeed, RedisFeed, WorkerProcess  # noqa: E402

from naksha.local import LocalControlPlane  # noqa: E402
from naksha.services.insight.sources.redis_streams import state_key  # noqa: E402
from naksha.services.insight.state_store import shard_key, state_name  # noqa: E402

STREAM = "recover"
DETECTORS = [
    {"name": "ceiling", "metric": "latency", "method": "threshold", "params": {"threshold": {"above": 1e9}}},
    {"name": "baseline", "metric": "latency", "method": "ewma"},
    {"name": "jump", "metric": "latency", "method": "rate", "params": {"rate": {"maxChangePerSecond": 1e9}}},
]


def history(series: int, samples: int, *, first: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "ts": 1_800_000_000 + first + i,
            "metric": "latency",
            "value": 100 + i % 7,
            "labels": {"pod": f"p-{n}"},
        }
        for i in range(samples)
        for n in range(series)
    ]


def healthy(worker: WorkerProcess) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/health", timeout=1).status == 200
    except OSError:
        return False


def checkpoint_bytes(feed: KafkaFeed | RedisFeed, core: client.CoreV1Api) -> int:
    if isinstance(feed, RedisFeed):
        return int(feed.client.hstrlen(state_key(feed.stream, feed.group), f"{STREAM}-0"))
    found = core.read_namespaced_config_map(state_name(STREAM), "default")
    prefix = shard_key(f"kafka/{feed.group}/")  # earlier rounds' groups share the ConfigMap
    encoded = [value for key, value in (found.binary_data or {}).items() if key.startswith(prefix)]
    return sum(len(base64.b64decode(value)) for value in encoded)


def one_round(
    feed: KafkaFeed | RedisFeed, plane: LocalControlPlane, logs: Path, args: argparse.Namespace
) -> tuple[float, float, int]:
    spec: dict[str, Any] = {"source": feed.source(), "detectors": DETECTORS}
    worker = WorkerProcess(
        logs, Path(plane.kubeconfig_path), namespace="default", stream=STREAM, spec=spec, name=f"{STREAM}-0"
    )
    feed.send(history(args.series, args.samples))
    worker.start()
    eventually(lambda: feed.acknowledged() == feed.sent, timeout=300, interval=0.5)
    assert worker.stop() == 0, worker.output()
    size = checkpoint_bytes(feed, client.CoreV1Api(config.new_client_from_config(str(plane.kubeconfig_path))))

    worker.spec = {**spec, "checkpointInterval": "1h"}
    worker.start()
    feed.send(history(args.series, args.tail // args.series, first=args.samples))
    tail = args.series * (args.tail // args.series)
    eventually(lambda: worker.metric('naksha_insight_ingested_total{stream="recover"}') == tail, timeout=300)
    worker.kill()
    assert feed.acknowledged() == feed.sent - tail

    worker.spec = spec
    started = time.perf_counter()
    worker.start()
    eventually(lambda: healthy(worker), timeout=120, interval=0.02)
    up = time.perf_counter() - started
    eventually(lambda: feed.acknowledged() == feed.sent, timeout=300, interval=0.05)
    caught_up = time.perf_counter() - started
    assert worker.stop() == 0, worker.output()
    assert "cannot be used" not in worker.output()
    return up, caught_up, size


def main(args: argparse.Namespace) -> None:
    tansu, redis_server = Tansu(), RedisServer()
    plane = LocalControlPlane(kubelet=False)
    plane.start()
    kubectl = ["kubectl", "--kubeconfig", str(plane.kubeconfig_path)]
    subprocess.run([*kubectl, "apply", "-f", str(ROOT / "crds")], check=True, capture_output=True)
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "crd", "--all"], check=True, capture_output=True
    )
    body = {"apiVersion": "naksha.io/v1alpha1", "kind": "InsightStream", "metadata": {"name": STREAM}}
    body["spec"] = {"source": {"type": "http"}}
    subprocess.run(
        [*kubectl, "apply", "-n", "default", "-f", "-"], input=json.dumps(body), text=True, check=True
    )
    results: dict[str, list[tuple[float, float, int]]] = {"kafka": [], "redis": []}
    try:
        with tempfile.TemporaryDirectory(prefix="naksha-recovery-") as logs:
            for _ in range(args.rounds):
                name = f"recover-{uuid.uuid4().hex[:6]}"
                feeds: dict[str, KafkaFeed | RedisFeed] = {
                    "kafka": KafkaFeed(tansu.bootstrap, name, f"{name}-workers"),
                    "redis": RedisFeed(redis_server.url, name, f"{name}-workers"),
                }
                for kind, feed in feeds.items():
                    results[kind].append(one_round(feed, plane, Path(logs), args))
                feeds["redis"].client.close()
    finally:
        plane.stop()
        tansu.stop()
        redis_server.stop()
    print(
        f"Recovery after SIGKILL: {args.series:,} series x 3 detectors, a replayed tail of {args.tail:,} "
        f"records, median of {args.rounds} rounds"
    )
    print(f"{'source':>6} | {'to /health s':>12} | {'caught up s':>11} | {'checkpoint bytes (zlib)':>23}")
    for kind, rows in results.items():
        up = statistics.median(r[0] for r in rows)
        caught_up = statistics.median(r[1] for r in rows)
        size = statistics.median(r[2] for r in rows)
        print(f"{kind:>6} | {up:>12.2f} | {caught_up:>11.2f} | {size:>23,.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=2_000)
    parser.add_argument("--samples", type=int, default=40, help="history samples per series")
    parser.add_argument("--tail", type=int, default=20_000, help="records replayed after the SIGKILL")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="500 series, 5,000 replayed, 1 round")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.series, arguments.tail, arguments.rounds = 500, 5_000, 1
    main(arguments)
