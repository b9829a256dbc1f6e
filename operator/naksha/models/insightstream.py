"""InsightStream: telemetry ingestion into live anomaly detectors and AgentRun triggers.

Cross-field rules the CRD schema cannot express (the source block matching its type, unique
detector names, triggers naming existing detectors) are enforced here and reported by the
operator as an ``InvalidSpec`` condition.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from naksha.models.common import DnsLabel, Duration, FreeForm, NakshaModel, SecretKeyRef, SecretRef

SourceType = Literal["kafka", "redis", "http"]
DetectorMethod = Literal["threshold", "ewma", "rate"]


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


class HttpSource(NakshaModel):
    port: int = Field(default=8010, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=67_108_864)
    max_batch: int = Field(default=10_000, ge=1, le=1_000_000)


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
    alpha: float = Field(default=0.1, gt=0, le=1, description="Smoothing factor.")
    zscore: float = Field(default=4.0, gt=0, description="Anomaly when |z| exceeds this.")


class RateParams(NakshaModel):
    window: Duration = "60s"
    max_change_per_second: float = Field(gt=0)


class DetectorParams(NakshaModel):
    threshold: ThresholdParams | None = None
    ewma: EwmaParams | None = None
    rate: RateParams | None = None


class Detector(NakshaModel):
    name: DnsLabel
    metric: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict, description="Series must carry these labels.")
    method: DetectorMethod
    params: DetectorParams = Field(default_factory=DetectorParams)
    min_samples: int = Field(default=30, ge=1, le=1_000_000, description="Warm-up before alerting.")
    cooldown: Duration = Field(default="60s", description="Quiet time after an anomaly (hysteresis).")

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
