"""ModelVersion: a model retrained from AgentRun outcomes and stream signals, then promoted."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from naksha.models.common import Duration, FreeForm, LabelSelector, NakshaModel


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


class EvaluationMetric(NakshaModel):
    name: Literal["precision", "recall", "f1", "resolved-rate", "mttr-seconds"]
    threshold: float
    direction: Literal["atLeast", "atMost"] = "atLeast"


class Evaluation(NakshaModel):
    metrics: list[EvaluationMetric] = Field(default_factory=list, max_length=32)
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)


class Promotion(NakshaModel):
    policy: Literal["manual", "auto"] = "manual"
    alias: str = Field(default="production", min_length=1, max_length=63)
    require_improvement: bool = True


class ModelVersionSpec(NakshaModel):
    model: str = Field(min_length=1, max_length=63, description="Name of the model family.")
    source: TrainingSource = Field(default_factory=TrainingSource)
    trainer: Trainer
    evaluation: Evaluation = Field(default_factory=Evaluation)
    promotion: Promotion = Field(default_factory=Promotion)
