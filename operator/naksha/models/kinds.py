"""The table of kinds: names, spec and status models and printer columns of each custom resource."""

from __future__ import annotations

from dataclasses import dataclass, field

from naksha.models.agentrun import AgentRunSpec, AgentRunStatus
from naksha.models.chaosexperiment import ChaosExperimentSpec, ChaosExperimentStatus
from naksha.models.common import NakshaModel
from naksha.models.edgenode import EdgeNodeSpec, EdgeNodeStatus
from naksha.models.group import GROUP
from naksha.models.insightstream import InsightStreamSpec, InsightStreamStatus
from naksha.models.modelversion import ModelVersionSpec, ModelVersionStatus
from naksha.models.rollout import RolloutSpec, RolloutStatus
from naksha.models.status import NakshaStatus, OpenStatus


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
    # The CRD's status schema comes from it; OpenStatus keeps fields a kind has not typed yet.
    status_model: type[NakshaStatus] = OpenStatus

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
    status_model=InsightStreamStatus,
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
    status_model=AgentRunStatus,
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
    status_model=ModelVersionStatus,
    columns=(
        PrinterColumn("Model", ".spec.model"),
        PrinterColumn("Algorithm", ".spec.trainer.algorithm"),
        PrinterColumn("Policy", ".spec.promotion.policy", priority=1),
        PrinterColumn("Verdict", ".status.verdict.result"),
        PrinterColumn("Aliases", ".status.aliases", priority=1),
        PrinterColumn("Parent", ".spec.parent", priority=1),
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
    status_model=EdgeNodeStatus,
    columns=(
        PrinterColumn("Node", ".spec.identity.nodeId"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Last-Heartbeat", ".status.lastHeartbeatTime", type="date"),
        PrinterColumn("Version", ".status.agentVersion"),
        PrinterColumn("Capabilities", ".status.capabilities", priority=1),
        PrinterColumn("Unschedulable", ".spec.unschedulable", type="boolean", priority=1),
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
    status_model=ChaosExperimentStatus,
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
    status_model=RolloutStatus,
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
