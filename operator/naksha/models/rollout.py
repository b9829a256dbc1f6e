"""Rollout: progressive delivery with analysis, and rollback that also reverts the GitOps repo."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from naksha.models.common import Duration, FreeForm, LabelSelector, NakshaModel, SecretRef


class PrometheusProvider(NakshaModel):
    address: str = Field(min_length=1, description="Base URL of the Prometheus HTTP API.")
    query: str = Field(min_length=1)


class InsightProvider(NakshaModel):
    stream: str = Field(min_length=1, description="InsightStream in the Rollout's namespace.")
    detector: str = Field(min_length=1)


class HttpProvider(NakshaModel):
    url: str = Field(min_length=1)
    json_path: str | None = Field(default=None, description="Dotted path of the value in the reply.")
    timeout: Duration = "5s"


class JobProvider(NakshaModel):
    template: FreeForm = Field(description="A batch/v1 Job spec; exit code 0 passes.")


class MetricProvider(NakshaModel):
    prometheus: PrometheusProvider | None = None
    insight: InsightProvider | None = None
    http: HttpProvider | None = None
    job: JobProvider | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [n for n in ("prometheus", "insight", "http", "job") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError(
                f"a metric provider needs exactly one of prometheus, insight, http, job; got {chosen}"
            )
        return self


class AnalysisMetric(NakshaModel):
    name: str = Field(min_length=1, max_length=63)
    provider: MetricProvider
    success_condition: str | None = Field(default=None, description="Safe expression over `result`.")
    failure_condition: str | None = None
    interval: Duration = "30s"
    initial_delay: Duration | None = None
    count: int | None = Field(default=None, ge=1, le=10_000, description="Measurements to take.")
    failure_limit: int = Field(default=0, ge=0)
    inconclusive_limit: int = Field(default=0, ge=0)


class Analysis(NakshaModel):
    metrics: list[AnalysisMetric] = Field(min_length=1, max_length=32)


class BackgroundAnalysis(Analysis):
    starting_step: int = Field(default=0, ge=0)


class Pause(NakshaModel):
    duration: Duration | None = Field(default=None, description="Absent: wait for promote.")


class CanaryStep(NakshaModel):
    set_weight: int | None = Field(default=None, ge=0, le=100)
    pause: Pause | None = None
    analysis: Analysis | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [n for n in ("set_weight", "pause", "analysis") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError("each canary step needs exactly one of setWeight, pause, analysis")
        return self


class CanaryStrategy(NakshaModel):
    steps: list[CanaryStep] = Field(default_factory=list, max_length=100)
    analysis: BackgroundAnalysis | None = None


class Strategy(NakshaModel):
    canary: CanaryStrategy = Field(default_factory=CanaryStrategy)


class GitAuthor(NakshaModel):
    name: str = Field(default="naksha", min_length=1)
    email: str = Field(default="naksha@localhost", min_length=3)


class GitOps(NakshaModel):
    repo: str = Field(min_length=1, description="Repository URL, file:// URL or local path.")
    branch: str = Field(default="main", min_length=1)
    path: str = Field(min_length=1, description="The Rollout's manifest inside the repository.")
    author: GitAuthor = Field(default_factory=GitAuthor)
    credentials_secret_ref: SecretRef | None = None


class RolloutSpec(NakshaModel):
    replicas: int = Field(default=1, ge=0, le=10_000)
    selector: LabelSelector
    template: FreeForm = Field(description="Pod template (metadata + spec), as in a Deployment.")
    strategy: Strategy = Field(default_factory=Strategy)
    progress_deadline_seconds: int = Field(default=600, ge=1)
    revision_history_limit: int = Field(default=10, ge=0, le=100)
    paused: bool = False
    gitops: GitOps | None = None

    @model_validator(mode="after")
    def _template_matches_selector(self) -> Self:
        labels = (self.template.get("metadata") or {}).get("labels") or {}
        for key, value in self.selector.match_labels.items():
            if labels.get(key) != value:
                raise ValueError(f"selector label {key}={value} does not match template.metadata.labels")
        if not isinstance(self.template.get("spec"), dict) or not self.template["spec"].get("containers"):
            raise ValueError("template.spec.containers must list at least one container")
        return self
