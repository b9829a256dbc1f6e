"""InsightStream: telemetry ingestion into live anomaly detectors and AgentRun triggers.

Cross-field rules the CRD schema cannot express (the source block matching its type, unique
detector names, triggers naming existing detectors) are enforced here and reported by the
operator as an ``InvalidSpec`` condition.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from naksha.models.common import (
    DnsLabel,
    Duration,
    FreeForm,
    NakshaModel,
    SecretKeyRef,
    SecretRef,
    parse_duration,
)
from naksha.models.status import NakshaStatus, StatusPart

SourceType = Literal["kafka", "redis", "http"]
DetectorMethod = Literal["threshold", "ewma", "rate", "predictive"]


class KafkaTLS(NakshaModel):
    enabled: bool = True
    ca_secret_ref: SecretKeyRef | None = None
    cert_secret_ref: SecretKeyRef | None = None
    key_secret_ref: SecretKeyRef | None = None
    insecure_skip_verify: bool = False


class KafkaSASL(NakshaModel):
    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    secret_ref: SecretRef = Field(description="Secret with keys 'username' and 'password'.")


class KafkaSource(NakshaModel):
    bootstrap_servers: list[str] = Field(min_length=1, description="host:port of the brokers.")
    topic: str = Field(default="naksha.telemetry", min_length=1)
    group: str = Field(default="naksha-insight", min_length=1, description="Consumer group id.")
    tls: KafkaTLS | None = None
    sasl: KafkaSASL | None = None
    max_batch: int = Field(default=500, ge=1, le=100_000, description="Records per poll.")
    start_offset: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where the group starts on a partition it has no committed offset for: earliest "
        "(what the topic holds) or latest (only records produced after it joined).",
    )
    session_timeout: Duration = Field(
        default="10s",
        description="Consumer group session timeout: how soon a dead worker's partitions move on.",
    )


class RedisSource(NakshaModel):
    url_secret_ref: SecretKeyRef | None = Field(default=None, description="Secret key holding redis://…")
    url: str | None = Field(default=None, description="redis:// URL when it carries no credentials.")
    stream: str = Field(default="naksha.telemetry", min_length=1)
    group: str = Field(default="naksha-insight", min_length=1)
    claim_idle: Duration = Field(default="30s", description="Reclaim entries pending this long.")
    max_batch: int = Field(default=500, ge=1, le=100_000)

    @model_validator(mode="after")
    def _one_url(self) -> Self:
        if (self.url is None) == (self.url_secret_ref is None):
            raise ValueError("redis source needs exactly one of url or urlSecretRef")
        return self


class IngestRateLimit(NakshaModel):
    """Per client (the authenticated user, or the address without auth): a token bucket."""

    requests_per_second: float = Field(default=50.0, gt=0, le=100_000)
    burst: int = Field(default=100, ge=1, le=1_000_000)


class HttpHistory(NakshaModel):
    """The worker's on-disk ring of accepted samples, which a detector tuner replays."""

    max_bytes: int = Field(
        default=67_108_864,
        ge=1_048_576,
        le=10_737_418_240,
        description="Bytes the ring keeps on disk per worker; the oldest samples go first.",
    )
    max_age: Duration = Field(default="168h", description="Samples written longer ago than this are dropped.")


class HttpSource(NakshaModel):
    port: int = Field(default=8010, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=67_108_864)
    max_batch: int = Field(default=10_000, ge=1, le=1_000_000)
    auth: Literal["kubernetes", "none"] = Field(
        default="kubernetes",
        description="kubernetes: POST /ingest needs a bearer token whose identity may create "
        "insightstreams/ingest on this stream (TokenReview + SubjectAccessReview); none: open.",
    )
    audience: str = Field(default="naksha", min_length=1, description="The audience tokens must be bound to.")
    rate_limit: IngestRateLimit = Field(default_factory=IngestRateLimit)
    tls_secret_ref: SecretRef | None = Field(
        default=None, description="A kubernetes.io/tls Secret (tls.crt, tls.key; ca.crt for mtls)."
    )
    mtls: bool = Field(
        default=False, description="Require a client certificate signed by the Secret's ca.crt."
    )
    history: HttpHistory = Field(
        default_factory=HttpHistory,
        description="Each worker keeps the samples it accepted in a bounded on-disk ring, served on "
        "GET /history to identities that may get insightstreams/history (the detector tuner's trainer).",
    )

    @model_validator(mode="after")
    def _mtls_needs_tls(self) -> Self:
        if self.mtls and self.tls_secret_ref is None:
            raise ValueError("http.mtls needs http.tlsSecretRef (its ca.crt verifies client certificates)")
        return self


class Source(NakshaModel):
    type: SourceType
    kafka: KafkaSource | None = None
    redis: RedisSource | None = None
    http: HttpSource | None = None

    @model_validator(mode="after")
    def _block_matches_type(self) -> Self:
        blocks = {"kafka": self.kafka, "redis": self.redis, "http": self.http}
        if self.type != "http" and blocks[self.type] is None:
            raise ValueError(f"source.type is {self.type!r} but source.{self.type} is missing")
        extra = [name for name, block in blocks.items() if block is not None and name != self.type]
        if extra:
            raise ValueError(f"source.type is {self.type!r} but source.{extra[0]} is also set")
        return self


class RecordMapping(NakshaModel):
    """Where each field of a record is found (dotted paths into the JSON record)."""

    timestamp: str = Field(default="ts", min_length=1)
    metric: str = Field(default="metric", min_length=1)
    value: str = Field(default="value", min_length=1)
    labels: str = Field(default="labels", min_length=1)


class ThresholdParams(NakshaModel):
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Self:
        if self.above is None and self.below is None:
            raise ValueError("threshold needs above, below or both")
        return self


class EwmaParams(NakshaModel):
    alpha: float = Field(default=0.02, gt=0, le=1, description="Smoothing factor.")
    zscore: float = Field(default=8.0, gt=0, description="Anomaly when |z| exceeds this.")
    min_relative_spread: float = Field(
        default=0.01,
        ge=0,
        description="Floor of the standard deviation as a fraction of |mean| (a flat baseline has a spread).",
    )
    min_spread: float = Field(
        default=1e-6, gt=0, description="Absolute floor of the standard deviation (a series flat at 0)."
    )
    anomalous_weight: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Share of alpha an anomalous sample, clipped to the zscore bound, still teaches.",
    )
    rebaseline_samples: int = Field(
        default=60,
        ge=1,
        le=1_000_000,
        description="Anomalous samples in one incident after which the baseline is learnt anew.",
    )
    short_samples: int = Field(
        default=4,
        ge=1,
        le=10_000,
        description="Samples averaged (exponentially) into the recent mean that shiftShare judges.",
    )
    shift_share: float = Field(
        default=0.75,
        ge=0,
        le=10,
        description=(
            "Anomaly also when the recent mean is more than this share of zscore of its own standard"
            " deviations from the baseline (a shift no single sample gives away); 0 turns this off."
        ),
    )


class RateParams(NakshaModel):
    window: Duration = "60s"
    max_change_per_second: float = Field(gt=0)


class PredictiveParams(NakshaModel):
    alpha: float = Field(
        default=0.9, gt=0, le=1, description="Smoothing of the level that predicts the next value."
    )
    threshold: float = Field(
        default=0.58,
        gt=0,
        lt=1,
        description="Anomaly when the score (the log-scaled anomaly likelihood) reaches this.",
    )
    short_samples: int = Field(
        default=4, ge=1, le=10_000, description="Samples averaged into the recent prediction error."
    )
    history_samples: int = Field(
        default=2000,
        ge=10,
        le=1_000_000,
        description="Samples of the error distribution the recent error is compared with.",
    )
    learn_samples: int = Field(
        default=200, ge=1, le=1_000_000, description="Samples learnt before the detector may alert."
    )
    drift_alpha: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Smoothing of the drift predictor's level (slower than alpha: where the series was).",
    )
    drift_samples: int = Field(
        default=20, ge=1, le=10_000, description="Samples averaged into the drift predictor's recent error."
    )
    range_margin: float = Field(
        default=0.04,
        ge=0,
        le=100,
        description=(
            "A value (or the smoothed level) beyond the range the series has lived in by more than this"
            " share of that range is anomalous, however usual its prediction error."
        ),
    )
    novelty_rearm_samples: int = Field(
        default=100,
        ge=0,
        le=1_000_000,
        description=(
            "A value beyond the series' range raises a new anomaly during an open incident once the"
            " incident's anomaly is this many samples old (0: never)."
        ),
    )


class DetectorParams(NakshaModel):
    threshold: ThresholdParams | None = None
    ewma: EwmaParams | None = None
    rate: RateParams | None = None
    predictive: PredictiveParams | None = None


class DetectorModel(NakshaModel):
    """Parameters from a detector-tuner model: the alias holder's artifact, followed as it moves."""

    name: str = Field(min_length=1, max_length=63, description="The ModelVersion model (spec.model).")
    alias: str = Field(default="production", min_length=1, max_length=63)
    poll_interval: Duration = Field(
        default="1s",
        description="How often workers read the alias (at least 100ms): the longest a move waits to be "
        "seen, against one ConfigMap read per interval per worker. Workers poll at the shortest "
        "interval among their detectors.",
    )

    @model_validator(mode="after")
    def _poll_not_too_often(self) -> Self:
        if parse_duration(self.poll_interval) < 0.1:
            raise ValueError(f"model.pollInterval {self.poll_interval} is under 100ms")
        return self


class Detector(NakshaModel):
    name: DnsLabel
    metric: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict, description="Series must carry these labels.")
    method: DetectorMethod
    params: DetectorParams = Field(default_factory=DetectorParams)
    min_samples: int = Field(default=30, ge=1, le=1_000_000, description="Warm-up before alerting.")
    cooldown: Duration = Field(default="60s", description="Quiet time after an anomaly (hysteresis).")
    cooldown_samples: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description=(
            "Normal samples in a row an incident also needs before the series may alert again "
            "(default: 150 for ewma, 200 for predictive, 1 for threshold and rate)."
        ),
    )
    rearm_samples: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description=(
            "Samples after an incident's anomaly from which its next anomalous sample raises a new"
            " anomaly: a long incident is reported again rather than hiding what follows (default:"
            " 400 for predictive, twice its cooldownSamples; 0, never, for the other methods)."
        ),
    )
    model: DetectorModel | None = Field(
        default=None,
        description="Take this detector's parameters from a tuned model; workers swap them when the"
        " alias moves.",
    )

    @model_validator(mode="after")
    def _params_for_method(self) -> Self:
        if self.method == "threshold" and self.params.threshold is None:
            raise ValueError(f"detector {self.name!r}: method threshold needs params.threshold")
        if self.method == "rate" and self.params.rate is None:
            raise ValueError(f"detector {self.name!r}: method rate needs params.rate")
        return self


class AgentRunTemplate(NakshaModel):
    playbook: str | None = Field(default=None, description="Playbook to run.")
    target: FreeForm = Field(default_factory=dict, description="Target object of the run.")
    spec: FreeForm = Field(default_factory=dict, description="Further AgentRun spec fields.")


class Trigger(NakshaModel):
    name: DnsLabel
    detector: str = Field(min_length=1, description="Name of a detector of this stream.")
    agent_run: AgentRunTemplate
    debounce: Duration = Field(default="5m", description="At most one run per series in this window.")
    max_concurrent: int = Field(default=1, ge=1, le=100)


class DeadLetter(NakshaModel):
    enabled: bool = False
    topic: str | None = Field(default=None, description="Kafka topic or Redis stream for rejects.")


class InsightStreamSpec(NakshaModel):
    source: Source
    mapping: RecordMapping = Field(default_factory=RecordMapping)
    detectors: list[Detector] = Field(default_factory=list, max_length=256)
    triggers: list[Trigger] = Field(default_factory=list, max_length=256)
    replicas: int = Field(default=1, ge=0, le=100)
    dead_letter: DeadLetter = Field(default_factory=DeadLetter)
    checkpoint_interval: Duration = Field(
        default="1s",
        description=(
            "How often a worker saves its detector state together with the source position it "
            "matches (Kafka, Redis); records are acknowledged only then, so a crash replays at most "
            "this much."
        ),
    )
    resources: FreeForm = Field(default_factory=dict, description="Worker container resources.")

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        names = [d.name for d in self.detectors]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"detector names must be unique: {', '.join(duplicates)}")
        for trigger in self.triggers:
            if trigger.detector not in names:
                raise ValueError(f"trigger {trigger.name!r} names unknown detector {trigger.detector!r}")
        return self


# --- status ------------------------------------------------------------------------------------


class ShardCounts(StatusPart):
    """The highest counts seen for one shard (a Kafka partition, a Redis consumer, an HTTP process)."""

    ingested: int = 0
    rejected: int = 0
    dead_lettered: int = 0
    anomalies: int = 0
    agent_runs: int = 0
    pod: str | None = Field(default=None, description="Set when the shard ends with this pod.")


class DetectorLive(StatusPart):
    """A detector's live state across the workers' last reports."""

    active: int = Field(default=0, description="Series in incident.")
    score: float = Field(default=0.0, description="The highest score of the last batches.")


class InsightStreamStatus(NakshaStatus):
    """What an InsightStream reports: its workers' readiness and the totals of their reports.

    Fields are optional: the operator's passes write what they computed (a merge patch), and
    each worker writes only its own entry under ``workers``.
    """

    replicas: int | None = None
    ready_replicas: int | None = None
    workers: dict[str, FreeForm | None] | None = Field(
        default=None, description="Each worker's own last report, by pod name."
    )
    shards: dict[str, ShardCounts | None] | None = None
    retired: ShardCounts | None = Field(default=None, description="Counts of shards whose pod is gone.")
    retired_shards: list[str] | None = Field(default=None, description="Never counted again.")
    lag: float | None = Field(default=None, description="The worst consumer lag among the workers.")
    last_anomaly: dict[str, FreeForm] | None = Field(default=None, description="By detector.")
    detectors: dict[str, DetectorLive] | None = None
    ingested: int | None = None
    rejected: int | None = None
    dead_lettered: int | None = None
    anomalies: int | None = None
    agent_runs: int | None = None
