"""Traffic for the demo's services and the telemetry it yields, published to Kafka.

``Traffic`` sends requests at a set rate (open loop: a slow service does not slow the senders,
so its queue shows as latency, as real users' requests do) to the URLs ``targets()`` names, and
every ``window`` publishes what the requests saw to a Kafka topic: the p99 latency of the
requests served and the share of failed ones (5xx, refused, timed out), as telemetry records
(``ts``, ``metric``, ``value``, ``labels``) keyed by series. That is what a service mesh or an
exporter feeds an InsightStream in a cluster; here the demo plays that part, and nothing about the
numbers is made up. Failures count as errors, not as latency: a service with no pod left refuses
its requests, which is an outage for the error detector, not a slowdown for the latency one. A
request still waiting at the end of a window counts with its age so far: the latency users are
living through.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

LATENCY_METRIC = "http_request_duration_p99_seconds"
ERRORS_METRIC = "http_errors_ratio"


@dataclass(frozen=True)
class Sample:
    ts: float
    rate: float  # requests per second sent
    finished: int
    p99_seconds: float
    error_ratio: float


def p99(values: list[float]) -> float:
    """The 99th percentile by the nearest-rank method (the largest value of small windows)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


class Traffic:
    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        targets: Callable[[], list[str]],
        labels: dict[str, str],
        rate: float,
        window: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.targets = targets
        self.labels = labels
        self.rate = rate
        self.window = window
        self.timeout = timeout
        self.samples: list[Sample] = []
        self._finished: list[tuple[float, bool]] = []  # (latency, failed) since the last window
        self._waiting: dict[int, float] = {}  # request id -> start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 10)
        if self._error is not None:
            raise RuntimeError(f"the demo's traffic stopped: {self._error}") from self._error

    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported by stop(), in the caller's thread
            self._error = error

    async def _main(self) -> None:
        import aiohttp
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await producer.start()
        # A connection per request: the local Service proxy balances connections, not requests.
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        loop = asyncio.get_running_loop()
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                urls: list[str] = []
                next_window = time.time() + self.window
                sent = 0
                pending: set[asyncio.Task[None]] = set()
                while not self._stop.is_set():
                    if not urls or time.time() >= next_window:
                        urls = await loop.run_in_executor(None, self.targets)
                    if urls and self.rate > 0:
                        task = asyncio.create_task(self._request(session, urls[sent % len(urls)], sent))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
                        sent += 1
                    if time.time() >= next_window:
                        await self._publish(producer, next_window)
                        next_window += self.window
                    await asyncio.sleep(1.0 / self.rate if self.rate > 0 else self.window / 4)
                for task in pending:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*pending, return_exceptions=True)
        finally:
            await producer.stop()

    async def _request(self, session: Any, url: str, number: int) -> None:
        import aiohttp

        started = time.monotonic()
        self._waiting[number] = started
        failed = True
        try:
            async with session.get(url) as answer:
                await answer.read()
                failed = answer.status >= 500
        except (TimeoutError, aiohttp.ClientError, OSError):
            failed = True
        finally:
            self._waiting.pop(number, None)
        self._finished.append((time.monotonic() - started, failed))

    async def _publish(self, producer: Any, ts: float) -> None:
        finished, self._finished = self._finished, []
        now = time.monotonic()
        oldest = max((now - start for start in self._waiting.values()), default=0.0)
        if not finished and not oldest:
            return  # no traffic, no telemetry
        served = [f[0] for f in finished if not f[1]]
        latency = max(p99(served) if served else 0.0, oldest)
        errors = sum(1 for f in finished if f[1]) / len(finished) if finished else 0.0
        sample = Sample(ts, self.rate, len(finished), round(latency, 4), round(errors, 4))
        self.samples.append(sample)
        for metric, value in ((LATENCY_METRIC, sample.p99_seconds), (ERRORS_METRIC, sample.error_ratio)):
            record = {"ts": ts, "metric": metric, "value": value, "labels": self.labels}
            key = f"{metric}{sorted(self.labels.items())}".encode()
            await producer.send_and_wait(self.topic, orjson.dumps(record), key=key)
