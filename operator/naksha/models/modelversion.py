"""ModelVersion: a model retrained from AgentRun outcomes and stream signals, then promoted.

The spec says what to train on, how, how to judge it and how to promote it; ``retrain`` makes the
operator create the next version of the same model (with this one as its parent). The status
(``ModelVersionStatus``) carries the artifact and its sha256, the lineage, the holdout metrics next
to the alias holder's on the same holdout, the verdict and the aliases this version holds.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from naksha.models.common import Duration, FreeForm, LabelSelector, NakshaModel
from naksha.models.cron import parse_cron
from naksha.models.status import NakshaStatus, StatusPart


class TrainingSource(NakshaModel):
    window: Duration = Field(default="24h", description="How far back outcomes are read.")
    agent_run_selector: LabelSelector = Field(default_factory=LabelSelector)
    insight_streams: list[str] = Field(default_factory=list)
    min_samples: int = Field(default=20, ge=1, le=10_000_000)


class Trainer(NakshaModel):
    algorithm: Literal["detector-tuner", "playbook-ranker"]
    params: FreeForm = Field(default_factory=dict)
    resources: FreeForm = Field(default_factory=dict)
    timeout: Duration = "30m"
    backoff_limit: int = Field(default=2, ge=0, le=10, description="Retries of a failed trainer pod.")


class EvaluationMetric(NakshaModel):
    name: Literal["precision", "recall", "f1", "resolved-rate", "mttr-seconds"]
    threshold: float
    direction: Literal["atLeast", "atMost"] = "atLeast"


class Evaluation(NakshaModel):
    metrics: list[EvaluationMetric] = Field(default_factory=list, max_length=32)
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)


class AutoDemote(NakshaModel):
    """Move the alias back when the promoted version does worse live than its predecessor did.

    The live rate: a playbook ranker's resolved rate over the runs whose playbook it chose; a
    detector tuner's share of real incidents (1 - false-positive rate) over the runs its
    parameters' anomalies started."""

    min_uses: int = Field(
        default=20, ge=1, le=1_000_000, description="Uses (runs attributed to it) of each before judging."
    )
    margin: float = Field(default=0.1, ge=0, le=1, description="Drop of the live rate that demotes.")


class Promotion(NakshaModel):
    policy: Literal["manual", "auto"] = "manual"
    alias: str = Field(
        default="production", min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    )
    require_improvement: bool = True
    margin: float = Field(
        default=0.0, ge=0, description="How much the first metric must beat the alias holder's by."
    )
    auto_demote: AutoDemote | None = None


class Retrain(NakshaModel):
    """When the operator creates the next version of this model (like a CronJob creates Jobs)."""

    schedule: str | None = Field(default=None, description="Five-field cron expression (UTC).")
    min_new_outcomes: int | None = Field(
        default=None, ge=1, le=10_000_000, description="Archived outcomes since this version's data."
    )
    history_limit: int = Field(default=5, ge=1, le=100, description="Versions of the model kept.")

    @model_validator(mode="after")
    def _some_trigger(self) -> Self:
        if self.schedule is None and self.min_new_outcomes is None:
            raise ValueError("retrain needs schedule, minNewOutcomes or both")
        if self.schedule is not None:
            parse_cron(self.schedule)
        return self


class ModelVersionSpec(NakshaModel):
    model: str = Field(min_length=1, max_length=63, description="Name of the model family.")
    source: TrainingSource = Field(default_factory=TrainingSource)
    trainer: Trainer
    evaluation: Evaluation = Field(default_factory=Evaluation)
    promotion: Promotion = Field(default_factory=Promotion)
    retrain: Retrain | None = None
    parent: str | None = Field(default=None, description="The version this one was retrained from.")


class ArtifactStatus(StatusPart):
    """The published artifact: its ConfigMap, key, and the sha256 checked when it was read back."""

    config_map: str
    key: str
    sha256: str
    size_bytes: int


class Lineage(StatusPart):
    """What the artifact was trained from and with (as the trainer pod recorded it)."""

    algorithm: str
    window: str
    samples: int
    holdout: int
    malformed: int
    dataset_sha256: str
    parent: str | None = None
    trainer_version: str
    params: FreeForm = Field(default_factory=dict)
    started_at: str
    finished_at: str
    job: str | None = None
    records: int | None = None


class MetricStatus(StatusPart):
    """One holdout metric of this version, next to the alias holder's and the threshold."""

    name: str
    value: float | None = None
    holder: float | None = Field(default=None, description="The alias holder's figure on the same holdout.")
    baseline: float | None = None
    threshold: float | None = None
    direction: str | None = None
    passed: bool | None = None


class VerdictStatus(StatusPart):
    """The evaluation's verdict (judged once, when the training result is first read)."""

    result: str
    message: str
    evaluation: FreeForm = Field(default_factory=dict)
    holder: str | None = Field(default=None, description="The version that held the alias when judged.")


class ModelVersionStatus(NakshaStatus):
    """A ModelVersion's status: its Job, artifact, lineage, metrics, verdict and aliases."""

    job: str | None = Field(default=None, description="The training Job.")
    artifact: ArtifactStatus | None = None
    lineage: Lineage | None = None
    metrics: list[MetricStatus] | None = None
    verdict: VerdictStatus | None = None
    aliases: list[str] | None = Field(default=None, description="The aliases this version holds now.")
    promoted_at: str | None = Field(default=None, description="When the auto policy promoted it.")
    retrained_as: str | None = Field(default=None, description="The next version, once created.")
    message: str | None = Field(default=None, description="Why training failed, when it did.")
