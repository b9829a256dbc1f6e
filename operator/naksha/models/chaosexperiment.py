"""ChaosExperiment: scheduled fault injection that checks steady state and timely recovery."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from naksha.models.common import Duration, FreeForm, LabelSelector, NakshaModel
from naksha.models.cron import validate_cron

FaultType = Literal[
    "pod-kill", "pod-failure", "container-kill", "scale-to-zero", "cpu-stress", "network-delay"
]
TargetMode = Literal["one", "all", "fixed", "fixed-percent", "random-max-percent"]


class ChaosTarget(NakshaModel):
    kind: Literal["Pod", "Deployment", "EdgeNode"] = "Pod"
    namespace: str | None = None
    selector: LabelSelector
    mode: TargetMode = "one"
    value: int | None = Field(default=None, ge=1, description="Count or percent for fixed* modes.")

    @model_validator(mode="after")
    def _value_for_mode(self) -> Self:
        if self.mode in ("fixed", "fixed-percent", "random-max-percent") and self.value is None:
            raise ValueError(f"target.mode {self.mode} needs target.value")
        if self.mode.endswith("percent") and self.value is not None and self.value > 100:
            raise ValueError("target.value is a percentage here and must be at most 100")
        return self


class Fault(NakshaModel):
    type: FaultType
    params: FreeForm = Field(default_factory=dict)


class Probe(NakshaModel):
    name: str = Field(min_length=1)
    type: Literal["http", "metric", "insight", "kubernetes"]
    url: str | None = None
    query: str | None = None
    condition: str | None = Field(default=None, description="Safe expression that must hold.")
    tolerance: float | None = None
    timeout: Duration = "5s"


class SteadyState(NakshaModel):
    probes: list[Probe] = Field(default_factory=list, max_length=32)


class ExpectedRemediation(NakshaModel):
    playbook: str | None = None
    mttr_budget: Duration = Field(default="5m", description="Recovery must finish within this.")


class ChaosExperimentSpec(NakshaModel):
    target: ChaosTarget
    fault: Fault
    schedule: str | None = Field(default=None, description="Cron (5 fields); absent runs once.")
    duration: Duration = "60s"
    steady_state: SteadyState = Field(default_factory=SteadyState)
    expected_remediation: ExpectedRemediation = Field(default_factory=ExpectedRemediation)
    abort_conditions: list[Probe] = Field(default_factory=list, max_length=32)
    suspend: bool = False

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            validate_cron(value)
        return value
