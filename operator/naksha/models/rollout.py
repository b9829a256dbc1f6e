"""Rollout: progressive delivery with analysis, and rollback that also reverts the GitOps repo.

The spec (what users write) first, then the status (what the controller reports and keeps).
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from naksha.models.common import Duration, FreeForm, LabelSelector, NakshaModel, SecretRef
from naksha.models.conditions import Reason
from naksha.models.status import NakshaStatus, StatusPart


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


# --- status ------------------------------------------------------------------------------------


class RevisionRecord(StatusPart):
    """A revision that was stable: where a rollback finds the template it restores."""

    revision: str
    template: FreeForm = Field(default_factory=dict)


class MeasurementRecord(StatusPart):
    """One measurement of an analysis metric."""

    at: str = Field(description="When it was taken (RFC 3339).")
    phase: str = Field(description="Successful, Failed or Inconclusive.")
    result: Any = Field(default=None, description="The provider's value (any JSON).")
    message: str | None = None


class MetricRecord(StatusPart):
    """A metric's progress in ``status.analysis``: counts, when it is due next, the last measurements."""

    phase: str = Field(default="Running", description="Running, Successful, Failed or Inconclusive.")
    taken: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    next_at: float = Field(default=0.0, description="Epoch seconds of the next measurement.")
    measurements: list[MeasurementRecord] = Field(default_factory=list)


class GitOpsOutcome(StatusPart):
    """The GitOps part of a rollback: the revert commit, or the last failure and when to retry."""

    commit: str | None = None
    created: bool | None = Field(default=None, description="Whether this rollback pushed the commit.")
    already_pushed: bool | None = None
    seconds: float | None = None
    failed_attempts: int | None = None
    error: str | None = None
    retry_at: float | None = None
    failures: int | None = None

    @property
    def settled(self) -> bool:
        """Whether the outcome is known (a commit found or made), so nothing is left to push."""
        return self.created is not None


class RollbackRecord(StatusPart):
    """The last rollback: what was bad, what is restored, why, and how far it got."""

    bad_revision: str
    stable_revision: str | None = None
    reason: str = Field(description="Why, in words (the abort annotation's value, or the failure).")
    # A Reason member; a plain string in the schema, so a new reason needs no CRD change.
    why: str = Field(default=Reason.ROLLED_BACK, description="Why, as a condition reason (CamelCase).")
    at: float = Field(description="Epoch seconds when it was recorded.")
    id: str | None = Field(default=None, description="Carried as a trailer by the revert commit.")
    spec_reverted: bool = False
    gitops: GitOpsOutcome | None = None


class RolloutStatus(NakshaStatus):
    """What a Rollout reports, and what its controller keeps between passes."""

    stable_revision: str | None = None
    current_revision: str | None = None
    current_step_index: int | None = Field(default=None, description="Absent when no rollout is in progress.")
    canary_weight: int = 0
    started_at: float | None = Field(default=None, description="When the current revision's rollout began.")
    step_started_at: float | None = None
    revisions: list[RevisionRecord] = Field(
        default_factory=list, description="Stable revisions, newest last."
    )
    bad_revisions: list[str] = Field(default_factory=list, description="Revisions rolled back (last 20).")
    analysis: dict[str, MetricRecord | None] = Field(
        default_factory=dict, description="Per '<step or background>/<metric>'."
    )
    rollback: RollbackRecord | None = None
    message: str | None = None
    applied_workloads: str | None = Field(default=None, description="Hash of the Deployments last applied.")
