"""The insight worker's pipeline: raw payloads → records → detectors → triggers, counted all the way.

Sources hand it batches (``handle``, with the shard they came from) and HTTP push hands it
request bodies (``ingest``; what it accepts goes to the worker's history ring first). A payload
may hold one record or an array of them; what cannot be parsed is counted by reason and
dead-lettered when the stream says so, never raised. Parsing and detection are synchronous and
in memory; only dead-lettering and AgentRun creation wait on I/O, and a batch is finished (so the
source may checkpoint it) only after both are done.

Counts are kept per shard in ``state`` (``insight.checkpoint.StateBook``) so they travel with
the shard's checkpoint: ``ingested`` counts accepted records (rejected ones are counted apart,
in ``rejected``), ``agentRuns`` the incidents whose AgentRun exists.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from naksha.crashpoints import crash_point
from naksha.domain.insight.detectors import Anomaly, DetectorBank
from naksha.domain.insight.records import ParseResult, RecordParser
from naksha.models.insightstream import InsightStreamSpec
from naksha.services.insight.checkpoint import COUNTERS, StateBook
from naksha.services.insight.dispatch import TriggerDispatcher
from naksha.services.insight.history_ring import HistoryRing
from naksha.services.insight.http_api import IngestOutcome
from naksha.services.insight.telemetry import WorkerMetrics

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
        http_shard: str = "http",
    ) -> None:
        self.spec = spec
        self.stream = stream
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.dead_letter = dead_letter
        self.max_items = max_items
        self.http_shard = http_shard
        self.history: HistoryRing | None = None  # an HTTP push worker's ring of accepted samples
        self.bank = DetectorBank(spec.detectors)
        self.state = StateBook(self.bank, dispatcher.last_fired)
        self.parser = RecordParser(spec.mapping, max_items=max_items)
        # Report counts as of the last checkpoint (a pull source that checkpoints), or live ones.
        self.report_committed = False
        self.last_anomaly: dict[str, dict[str, Any]] = {}
        self._evicted_seen = 0

    @property
    def ingested(self) -> int:
        return self._total("ingested")

    @property
    def rejected(self) -> int:
        return self._total("rejected")

    @property
    def dead_lettered(self) -> int:
        return self._total("deadLettered")

    @property
    def anomalies(self) -> int:
        return self._total("anomalies")

    def _total(self, counter: str) -> int:
        return sum(counts[counter] for counts in self.state.counts.values())

    async def handle(self, payloads: list[bytes], shard: str = "") -> None:
        """One batch from a pull source; returns once it is safe to acknowledge."""
        await self._process(payloads, shard)

    async def ingest(self, body: bytes) -> IngestOutcome:
        """One HTTP push body: a record or an array of records."""
        return await self._process([body], self.http_shard, keep=self.history)

    async def _process(
        self, payloads: list[bytes], shard: str, keep: HistoryRing | None = None
    ) -> IngestOutcome:
        started = time.perf_counter()
        received_at = time.time()
        outcome = IngestOutcome()
        anomalies: list[Anomaly] = []
        rejects: list[bytes] = []
        counts = self.state.counts_for(shard)
        self.bank.set_shard(shard)
        observe = self.bank.observe
        result = ParseResult()
        parse_into = self.parser.parse_into
        for payload in payloads:
            parse_into(payload, received_at, result)
        if keep is not None:
            # On disk before anything acts on it: what a detector fired on can be replayed.
            keep.append(result.records)
        for record in result.records:
            found = observe(record)
            if found:
                anomalies.extend(found)
        outcome.accepted = len(result.records)
        for rejection in result.rejections:
            outcome.rejected.append((rejection.index, rejection.reason))
            self.metrics.rejected.labels(self.stream, rejection.reason).inc()
            rejects.append(rejection.raw)
        self._count(outcome, anomalies, counts)
        if rejects and self.dead_letter is not None:
            await self.dead_letter(rejects)
            counts["deadLettered"] += len(rejects)
            self.metrics.dead_lettered.labels(self.stream).inc(len(rejects))
        if anomalies:
            crash_point("insight.before-trigger")
            counts["agentRuns"] += await self.dispatcher.dispatch(anomalies, shard)
            # The one moment a duplicate could be born: AgentRuns exist, the batch is unacknowledged.
            crash_point("insight.after-trigger")
        self.metrics.batch_seconds.labels(self.stream).observe(time.perf_counter() - started)
        return outcome

    def _count(self, outcome: IngestOutcome, anomalies: list[Anomaly], counts: dict[str, int]) -> None:
        counts["ingested"] += outcome.accepted
        counts["rejected"] += len(outcome.rejected)
        counts["anomalies"] += len(anomalies)
        self.metrics.ingested.labels(self.stream).inc(outcome.accepted)
        for anomaly in anomalies:
            self.metrics.anomalies.labels(self.stream, anomaly.detector).inc()
            self.last_anomaly[anomaly.detector] = anomaly.summary()
        for detector, peak in self.bank.take_peaks().items():
            self.metrics.score.labels(self.stream, detector).set(peak)
        evicted = self.bank.evicted
        if evicted > self._evicted_seen:
            self.metrics.evicted.labels(self.stream).inc(evicted - self._evicted_seen)
            self._evicted_seen = evicted

    def report(self) -> dict[str, Any]:
        """Per-shard counts (what the operator folds into monotonic totals) and this worker's sums."""
        shards = self.state.committed if self.report_committed else self.state.counts
        report: dict[str, Any] = {"shards": {shard: dict(counts) for shard, counts in shards.items()}}
        for counter in COUNTERS:
            report[counter] = sum(counts[counter] for counts in shards.values())
        report["lastAnomaly"] = dict(self.last_anomaly)
        report["detectors"] = self.bank.live_state()
        return report
