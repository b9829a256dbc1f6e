"""An insight worker's Prometheus metrics, in a registry per worker so tests can run several at once.

Names follow the ``naksha_insight_*`` family; every series carries the stream's name so one
Prometheus scrape config covers all streams.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class WorkerMetrics:
    stream: str
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        self.ingested = Counter(
            "naksha_insight_ingested_total", "Records accepted.", ["stream"], registry=self.registry
        )
        self.rejected = Counter(
            "naksha_insight_rejected_total",
            "Records rejected, by reason.",
            ["stream", "reason"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "naksha_insight_dead_lettered_total",
            "Rejected records sent to the dead-letter topic or stream.",
            ["stream"],
            registry=self.registry,
        )
        self.anomalies = Counter(
            "naksha_insight_anomalies_total",
            "Incidents detected, by detector.",
            ["stream", "detector"],
            registry=self.registry,
        )
        self.agent_runs = Counter(
            "naksha_insight_agentruns_total",
            "AgentRuns requested by triggers, by result (created, duplicate, debounced, throttled, invalid).",
            ["stream", "trigger", "result"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "naksha_insight_processing_seconds",
            "Time to parse, detect and trigger one batch.",
            ["stream"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.lag = Gauge(
            "naksha_insight_consumer_lag",
            "Records waiting in the source.",
            ["stream"],
            registry=self.registry,
        )
        self.ingest_refused = Counter(
            "naksha_insight_ingest_refused_total",
            "POST /ingest requests refused, by HTTP status (401, 403, 413, 429, 503).",
            ["stream", "code"],
            registry=self.registry,
        )
        self.score = Gauge(
            "naksha_insight_detector_score",
            "Highest detector score (0 to 1; past the method's bound is anomalous) in the last batch.",
            ["stream", "detector"],
            registry=self.registry,
        )
        self.evicted = Counter(
            "naksha_insight_series_evicted_total",
            "Series dropped from detector state to stay under the per-detector cap.",
            ["stream"],
            registry=self.registry,
        )
