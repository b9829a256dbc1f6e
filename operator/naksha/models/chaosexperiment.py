"""ChaosExperiment: scheduled fault injection that checks steady state and timely recovery.

The spec says what to break (``target`` + ``fault``), for how long, when (``schedule``), how to
tell the system is healthy (``steadyState`` probes), what must heal it (``expectedRemediation``)
and when to stop at once (``abortConditions``). The status (``ChaosExperimentStatus``) carries
the run in flight with its injection intent, a bounded history of verdicts and the journal.
"""

from __future__ import annotations

import zoneinfo
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from naksha.models.common import Duration, FreeForm, LabelSelector, NakshaModel
from naksha.models.cron import validate_cron
from naksha.models.labels import CHAOS_ABORT, CHAOS_RUN
from naksha.models.status import NakshaStatus, StatusPart

FaultType = Literal[
    "pod-kill",
    "pod-failure",
    "container-kill",
    "scale-to-zero",
    "cpu-stress",
    "network-delay",
    "anomaly-injection",
    "edge-blackout",
]
TargetMode = Literal["one", "all", "fixed", "fixed-percent", "random-max-percent"]
ProbeMode = Literal["before", "after", "before-after", "continuous"]

# Commands, as annotations the controller honours once per value (``naksha chaos run|abort``).
RUN_ANNOTATION = CHAOS_RUN
ABORT_ANNOTATION = CHAOS_ABORT

# The parameters each fault understands; anything else is a typo the user must hear about.
FAULT_PARAMS: dict[str, frozenset[str]] = {
    "pod-kill": frozenset({"gracePeriodSeconds"}),
    "pod-failure": frozenset({"container", "image"}),
    "container-kill": frozenset({"container"}),
    "scale-to-zero": frozenset(),
    "cpu-stress": frozenset({"workers", "load"}),
    "network-delay": frozenset({"latency", "jitter", "interface"}),
    "anomaly-injection": frozenset({"stream", "metric", "value", "baseline", "count", "labels"}),
    "edge-blackout": frozenset({"edgeNode"}),
}
# The faults whose target is a workload (the Deployment itself), not its pods.
WORKLOAD_FAULTS = frozenset({"scale-to-zero"})


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

    @model_validator(mode="after")
    def _known_params(self) -> Self:
        unknown = sorted(set(self.params) - FAULT_PARAMS[self.type])
        if unknown:
            allowed = ", ".join(sorted(FAULT_PARAMS[self.type])) or "none"
            raise ValueError(f"fault {self.type} has unknown params {unknown} (allowed: {allowed})")
        return self


class ProbeResource(NakshaModel):
    kind: Literal["Deployment", "Rollout", "Pod"] = "Deployment"
    name: str = Field(min_length=1)


class Probe(NakshaModel):
    name: str = Field(min_length=1)
    type: Literal["http", "metric", "insight", "kubernetes"]
    mode: ProbeMode = Field(
        default="continuous",
        description="When it is checked: before the fault, after the restore, both, or throughout.",
    )
    url: str | None = None
    query: str | None = None
    condition: str | None = Field(
        default=None, description="Metric probes: a comparison such as '< 0.5' the value must meet."
    )
    tolerance: float | None = None
    timeout: Duration = "5s"
    resource: ProbeResource | None = Field(default=None, description="Kubernetes probes: what to read.")
    min_available: int | None = Field(
        default=None, ge=0, description="Kubernetes probes: available replicas needed (default: all)."
    )
    expect_status: int = Field(default=200, ge=100, le=599, description="HTTP probes: expected status.")
    max_latency: Duration | None = None
    stream: str | None = Field(default=None, description="Insight probes: the InsightStream.")
    detector: str | None = Field(default=None, description="Insight probes: its detector, quiet when steady.")

    @model_validator(mode="after")
    def _fields_for_type(self) -> Self:
        needed = {
            "http": ("url",),
            "metric": ("url", "query", "condition"),
            "insight": ("stream", "detector"),
        }
        needed["kubernetes"] = ("resource",)
        missing = [f for f in needed[self.type] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"probe {self.name!r} of type {self.type} needs {', '.join(missing)}")
        return self


class SteadyState(NakshaModel):
    probes: list[Probe] = Field(default_factory=list, max_length=32)


class ExpectedRemediation(NakshaModel):
    playbook: str | None = None
    target: str | None = Field(
        default=None, description="Name the AgentRun targets; default: the experiment's targets."
    )
    mttr_budget: Duration = Field(default="5m", description="Recovery must finish within this.")


class BlastRadius(NakshaModel):
    max_targets: int | None = Field(default=None, ge=1, description="Never more targets than this.")
    max_percent: int | None = Field(
        default=None, ge=1, le=100, description="Never more than this share of the candidates."
    )


class ChaosExperimentSpec(NakshaModel):
    target: ChaosTarget
    fault: Fault
    schedule: str | None = Field(default=None, description="Cron (5 fields); absent runs once.")
    time_zone: str | None = Field(default=None, description="IANA zone of the schedule; default UTC.")
    concurrency_policy: Literal["Forbid", "Replace"] = "Forbid"
    starting_deadline_seconds: int | None = Field(
        default=None, ge=1, description="A firing later than this is missed, not run."
    )
    history_limit: int = Field(default=10, ge=1, le=100, description="Runs kept in status.history.")
    duration: Duration = "60s"
    steady_state: SteadyState = Field(default_factory=SteadyState)
    expected_remediation: ExpectedRemediation = Field(default_factory=ExpectedRemediation)
    abort_conditions: list[Probe] = Field(
        default_factory=list, max_length=32, description="Probes that abort the run when they fail."
    )
    blast_radius: BlastRadius = Field(default_factory=BlastRadius)
    suspend: bool = False

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            validate_cron(value)
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value


class RestoreStep(StatusPart):
    """One thing to put back; recorded before the fault so a restarted operator can do it."""

    kind: str
    name: str
    field: str = Field(description="What is restored, e.g. replicas, or 'delete' for a helper pod.")
    value: Any = None
    injected_value: Any = Field(default=None, description="What the fault set (restore only if still so).")
    # FreeForm, not dict[str, Any]: the latter becomes ``additionalProperties: true``, under which
    # a real API server prunes every nested field (a spike's labels came back empty, so the
    # baseline went to another series and the remediating run's verify step never saw recovery).
    params: FreeForm = Field(
        default_factory=dict, description="The fault's params, for restores that need them."
    )


class JournalEntry(StatusPart):
    run: str
    at: str
    activity: str = Field(description="steady-state-before, inject, detect, remediation, recover, restore...")
    message: str
    ok: bool = True


class ChaosRun(StatusPart):
    """The run in flight: where it stands, what it injected and what it measured."""

    id: str
    stage: Literal["Pending", "Injecting", "Injected", "Restoring", "Verifying", "Done"] = "Pending"
    started_at: str
    started_by: str = Field(default="schedule", description="schedule, command, or creation.")
    targets: list[str] = Field(default_factory=list)
    workloads: list[str] = Field(default_factory=list, description="The workloads the targets belong to.")
    restore: list[RestoreStep] = Field(default_factory=list)
    injected_at: str | None = None
    restored_at: str | None = None
    restore_attempts: int = 0
    restore_error: str | None = None
    abort_reason: str | None = None
    detected_at: str | None = None
    agent_run: str | None = None
    agent_run_phase: str | None = None
    recovered_at: str | None = None
    unsteady_seen: bool = False
    verdict: Literal["Passed", "Failed", "Aborted", "Skipped"] | None = None
    reason: str | None = None
    failed_expectation: str | None = None
    time_to_detect_seconds: float | None = None
    time_to_recover_seconds: float | None = None
    finished_at: str | None = None


class ChaosExperimentStatus(NakshaStatus):
    """What the operator reports: the current run, the last ``historyLimit`` runs, the journal."""

    current_run: ChaosRun | None = Field(default=None, alias="currentRun")
    history: list[ChaosRun] = Field(default_factory=list)
    journal: list[JournalEntry] = Field(default_factory=list)
    last_schedule_time: str | None = Field(default=None, alias="lastScheduleTime")
    handled_commands: dict[str, str] = Field(default_factory=dict, alias="handledCommands")
    runs: int = 0
