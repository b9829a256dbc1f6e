"""The insight worker's pipeline: raw payloads → records → detectors → triggers, counted all the way.

Sources hand it batches (``handle``) and HTTP push hands it request bodies (``ingest``). A
payload may hold one record or an array of them; what cannot be parsed is counted by reason
and dead-lettered when the stream says so, never raised. Parsing and detection are
synchronous and in memory; only dead-lettering and AgentRun creation wait on I/O, and a batch
is finished (so the source may acknowledge it) only after both are done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from naksha.insight.detectors import Anomaly, DetectorBank
from naksha.insight.dispatch import TriggerDispatcher
from naksha.insight.http_api import IngestOutcome
from naksha.insight.records import ParseResult, RecordParser
from naksha.insight.telemetry import WorkerMetrics
from naksha.models.insightstream import InsightStreamSpec

logger = logging.getLogger(__name__)
DeadLetter = Callable[[list[bytes]], Awaitable[None]]


class Pipeline:
    def __init__(
        self,
        spec: InsightStreamSpec,
        *,
        stream: str,
        metrics: WorkerMetrics,
        dispatcher: TriggerDispatcher,
        dead_letter: DeadLetter | None = None,
        max_items: int = 10_000,
        pause_after_trigger: float = 0.0,
    ) -> None:
        self.spec = spec
        self.stream = stream
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.dead_letter = dead_letter
        self.max_items = max_items
        self.pause_after_trigger = pause_after_trigger
        self.bank = DetectorBank(spec.detectors)
        self.parser = RecordParser(spec.mapping, max_items=max_items)
        self.ingested = 0
        self.rejected = 0
        self.dead_lettered = 0
        self.anomalies = 0
        self.last_anomaly: dict[str, dict[str, Any]] = {}
        self._evicted_seen = 0

    async def handle(self, payloads: list[bytes]) -> None:
        """One batch from a pull source; returns once it is safe to acknowledge."""
        await self._process(payloads)

    async def ingest(self, body: bytes) -> IngestOutcome:
        """One HTTP push body: a record or an array of records."""
        return await self._process([body])

    async def _process(self, payloads: list[bytes]) -> IngestOutcome:
        started = time.perf_counter()
        received_at = time.time()
        outcome = IngestOutcome()
        anomalies: list[Anomaly] = []
        rejects: list[bytes] = []
        observe = self.bank.observe
        result = ParseResult()
        parse_into = self.parser.parse_into
        for payload in payloads:
            parse_into(payload, received_at, result)
        for record in result.records:
            found = observe(record)
            if found:
                anomalies.extend(found)
        outcome.accepted = len(result.records)
        for rejection in result.rejections:
            outcome.rejected.append((rejection.index, rejection.reason))
            self.metrics.rejected.labels(self.stream, rejection.reason).inc()
            rejects.append(rejection.raw)
        self._count(outcome, anomalies)
        if rejects and self.dead_letter is not None:
            await self.dead_letter(rejects)
            self.dead_lettered += len(rejects)
            self.metrics.dead_lettered.labels(self.stream).inc(len(rejects))
        if anomalies:
            await self.dispatcher.dispatch(anomalies)
            if self.pause_after_trigger:
                # Test hook: hold the batch unacknowledged after its AgentRuns exist, so a crash
                # test can kill the worker at the one moment a duplicate could be born.
                logger.warning(
                    "pausing %.1fs after triggering, before acknowledging", self.pause_after_trigger
                )
                await asyncio.sleep(self.pause_after_trigger)
        self.metrics.batch_seconds.labels(self.stream).observe(time.perf_counter() - started)
        return outcome

    def _count(self, outcome: IngestOutcome, anomalies: list[Anomaly]) -> None:
        self.ingested += outcome.accepted
        self.rejected += len(outcome.rejected)
        self.metrics.ingested.labels(self.stream).inc(outcome.accepted)
        for anomaly in anomalies:
            self.anomalies += 1
            self.metrics.anomalies.labels(self.stream, anomaly.detector).inc()
            self.last_anomaly[anomaly.detector] = anomaly.summary()
        evicted = self.bank.evicted
        if evicted > self._evicted_seen:
            self.metrics.evicted.labels(self.stream).inc(evicted - self._evicted_seen)
            self._evicted_seen = evicted

    def report(self) -> dict[str, Any]:
        return {
            "ingested": self.ingested,
            "rejected": self.rejected,
            "deadLettered": self.dead_lettered,
            "anomalies": self.anomalies,
            "lastAnomaly": dict(self.last_anomaly),
            "detectors": self.bank.live_state(),
        }
