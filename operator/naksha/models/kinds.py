"""The table of kinds: names, spec model and printer columns of each custom resource."""

from __future__ import annotations

from dataclasses import dataclass, field

from naksha.models.agentrun import AgentRunSpec
from naksha.models.chaosexperiment import ChaosExperimentSpec
from naksha.models.common import NakshaModel
from naksha.models.edgenode import EdgeNodeSpec
from naksha.models.group import GROUP
from naksha.models.insightstream import InsightStreamSpec
from naksha.models.modelversion import ModelVersionSpec
from naksha.models.rollout import RolloutSpec


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec_model: type[NakshaModel]
    description: str
    columns: tuple[PrinterColumn, ...] = field(default=())

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


PHASE = PrinterColumn("Phase", ".status.phase")
ACCEPTED = PrinterColumn("Accepted", '.status.conditions[?(@.type=="Accepted")].status')
REASON = PrinterColumn("Reason", '.status.conditions[?(@.type=="Accepted")].reason', priority=1)
AGE = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")

INSIGHT_STREAM = KindInfo(
    kind="InsightStream",
    plural="insightstreams",
    short_names=("ins", "insight"),
    spec_model=InsightStreamSpec,
    description="Telemetry ingestion into live anomaly detectors that trigger AgentRuns.",
    columns=(
        PrinterColumn("Source", ".spec.source.type"),
        PrinterColumn("Replicas", ".spec.replicas", type="integer"),
        PHASE,
        ACCEPTED,
        REASON,
        AGE,
    ),
)
AGENT_RUN = KindInfo(
    kind="AgentRun",
    plural="agentruns",
    short_names=("ar", "arun"),
    spec_model=AgentRunSpec,
    description="One observe, decide, act and verify cycle over work packages, with guardrails.",
    columns=(
        PrinterColumn("Playbook", ".spec.playbookRef.name"),
        PrinterColumn("Executor", ".spec.executor"),
        PrinterColumn("DryRun", ".spec.dryRun", type="boolean", priority=1),
        PHASE,
        ACCEPTED,
        REASON,
        AGE,
    ),
)
MODEL_VERSION = KindInfo(
    kind="ModelVersion",
    plural="modelversions",
    short_names=("mv",),
    spec_model=ModelVersionSpec,
    description="A model retrained from outcomes and signals, evaluated and promoted.",
    columns=(
        PrinterColumn("Model", ".spec.model"),
        PrinterColumn("Algorithm", ".spec.trainer.algorithm"),
        PrinterColumn("Policy", ".spec.promotion.policy", priority=1),
        PHASE,
        ACCEPTED,
        REASON,
        AGE,
    ),
)
EDGE_NODE = KindInfo(
    kind="EdgeNode",
    plural="edgenodes",
    short_names=("edge", "en"),
    spec_model=EdgeNodeSpec,
    description="An edge agent registered with the hub: identity, heartbeats, signed triggers.",
    columns=(
        PrinterColumn("Node", ".spec.identity.nodeId"),
        PrinterColumn("Unschedulable", ".spec.unschedulable", type="boolean"),
        PHASE,
        ACCEPTED,
        REASON,
        AGE,
    ),
)
CHAOS_EXPERIMENT = KindInfo(
    kind="ChaosExperiment",
    plural="chaosexperiments",
    short_names=("chaos", "cx"),
    spec_model=ChaosExperimentSpec,
    description="Scheduled fault injection that checks steady state and timely recovery.",
    columns=(
        PrinterColumn("Fault", ".spec.fault.type"),
        PrinterColumn("Schedule", ".spec.schedule"),
        PHASE,
        PrinterColumn("Verdict", ".status.history[-1:].verdict"),
        ACCEPTED,
        REASON,
        AGE,
    ),
)
ROLLOUT = KindInfo(
    kind="Rollout",
    plural="rollouts",
    short_names=("nro",),
    spec_model=RolloutSpec,
    description="Progressive delivery with analysis and GitOps-aware rollback.",
    columns=(
        PrinterColumn("Desired", ".spec.replicas", type="integer"),
        PrinterColumn("Step", ".status.currentStepIndex", type="integer"),
        PrinterColumn("Weight", ".status.canaryWeight", type="integer"),
        PrinterColumn("Revision", ".status.currentRevision", priority=1),
        PHASE,
        ACCEPTED,
        REASON,
        AGE,
    ),
)

KINDS: tuple[KindInfo, ...] = (INSIGHT_STREAM, AGENT_RUN, MODEL_VERSION, EDGE_NODE, CHAOS_EXPERIMENT, ROLLOUT)
KINDS_BY_NAME: dict[str, KindInfo] = {info.kind: info for info in KINDS}
