"""AgentRun: one observe → decide → act → verify cycle over the registry of work packages.

The spec (what users write) first, then the status (the run's checkpoints).
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from naksha.models.common import DnsLabel, Duration, FreeForm, NakshaModel, ObjectTarget
from naksha.models.status import NakshaStatus, StatusPart

NodeType = Literal["observe", "decide", "act", "verify", "end"]


class Edge(NakshaModel):
    when: str | None = Field(default=None, description="Safe expression over the run state.")
    to: str = Field(min_length=1)


class GraphNode(NakshaModel):
    name: DnsLabel
    type: NodeType
    wpk: str | None = Field(default=None, description="Work package run by this node.")
    params: FreeForm = Field(default_factory=dict)
    next: str | None = Field(default=None, description="Unconditional successor.")
    edges: list[Edge] = Field(default_factory=list)
    timeout: Duration | None = None

    @model_validator(mode="after")
    def _wpk_where_needed(self) -> Self:
        if self.type in ("observe", "act", "verify") and not self.wpk:
            raise ValueError(f"node {self.name!r} of type {self.type} needs a wpk")
        if self.type == "end" and (self.next or self.edges):
            raise ValueError(f"end node {self.name!r} cannot have successors")
        return self


class Graph(NakshaModel):
    start: str = Field(min_length=1)
    max_steps: int = Field(default=50, ge=1, le=1000)
    nodes: list[GraphNode] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _edges_resolve(self) -> Self:
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError("graph node names must be unique")
        if self.start not in names:
            raise ValueError(f"graph start {self.start!r} is not a node")
        for node in self.nodes:
            targets = [node.next] if node.next else []
            targets += [edge.to for edge in node.edges]
            for target in targets:
                if target not in names:
                    raise ValueError(f"node {node.name!r} leads to unknown node {target!r}")
        return self


class PlaybookRef(NakshaModel):
    """A playbook by name, or chosen among ``candidates`` by a model (a ModelVersion alias holder)."""

    name: str | None = Field(default=None, min_length=1)
    namespace: str | None = None
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="A playbook-ranker model: its alias holder chooses among candidates (Thompson sampling).",
    )
    alias: str = Field(default="production", min_length=1, max_length=63)
    candidates: list[str] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _name_or_model(self) -> Self:
        if (self.name is None) == (self.model is None):
            raise ValueError("playbookRef needs exactly one of name or model")
        if self.model is not None and not self.candidates:
            raise ValueError("playbookRef.model needs candidates to choose among")
        if self.name is not None and self.candidates:
            raise ValueError("playbookRef.candidates go with model, not name")
        return self


class Signal(NakshaModel):
    source: str | None = Field(default=None, description="What raised it, e.g. insightstream/name.")
    stream: str | None = None
    detector: str | None = None
    series: dict[str, str] = Field(default_factory=dict)
    value: float | None = None
    score: float | None = None
    window: Duration | None = None
    detected_at: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    dedupe_key: str | None = None


class Approval(NakshaModel):
    required: bool = False
    approvers: list[str] = Field(default_factory=list)
    timeout: Duration = "1h"


class Timeouts(NakshaModel):
    run: Duration = "15m"
    step: Duration = "2m"


class AgentRunSpec(NakshaModel):
    playbook_ref: PlaybookRef | None = None
    graph: Graph | None = None
    fallbacks: list[PlaybookRef] = Field(
        default_factory=list,
        max_length=5,
        description="Playbooks tried in order when verification fails (after reverting what was done).",
    )
    signal: Signal = Field(default_factory=Signal)
    inputs: FreeForm = Field(default_factory=dict)
    target: ObjectTarget | None = None
    executor: Literal["operator", "job"] = "operator"
    dry_run: bool = False
    approval: Approval = Field(default_factory=Approval)
    timeouts: Timeouts = Field(default_factory=Timeouts)

    @model_validator(mode="after")
    def _one_plan(self) -> Self:
        if (self.playbook_ref is None) == (self.graph is None):
            raise ValueError("exactly one of playbookRef or graph must be set")
        if any(ref.name is None for ref in self.fallbacks):
            raise ValueError("fallbacks name their playbooks (a model chooses only the first)")
        return self


# --- status ------------------------------------------------------------------------------------


class StepRecord(StatusPart):
    """One node the run went through (the last ``KEPT_STEPS`` are kept)."""

    node: str
    type: str
    started: str
    finished: str
    wpk: str | None = None
    result: FreeForm | None = None
    error: str | None = None


class ActionRecord(StatusPart):
    """An act node's plan, written before it is applied (exactly-once), then its result."""

    node: str
    wpk: str
    params: FreeForm = Field(default_factory=dict)
    plan: FreeForm = Field(default_factory=dict)
    started_at: str
    dry_run: bool = False
    result: FreeForm | None = None
    finished_at: str | None = None
    reverted: str | None = Field(default=None, description="When the action was reverted, if it was.")


class PendingWait(StatusPart):
    """A waiting node's record: when it began, its plan or its deadline (kept across restarts)."""

    started: str
    plan: Any = Field(default=None, description="A waiting observation's plan (any JSON).")
    deadline: float | None = Field(default=None, description="Epoch seconds when a verification gives up.")


class RunOutcome(StatusPart):
    """What a finished run reports for learning: resolved or not, its times, what it did."""

    resolved: bool
    playbook: str
    playbooks_tried: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list, description="'<node>:<work package>' of each action.")
    time_to_detect_seconds: float | None = None
    time_to_act_seconds: float | None = None
    time_to_recover_seconds: float | None = None


class AgentRunStatus(NakshaStatus):
    """An AgentRun's progress, checkpointed as it goes: a restarted engine starts from it."""

    current_node: str | None = None
    step_count: int = 0
    state: FreeForm = Field(default_factory=dict, description="Variables the graph's nodes set.")
    steps: list[StepRecord] = Field(default_factory=list)
    actions: dict[str, ActionRecord] = Field(default_factory=dict, description="By idempotency key.")
    pending: dict[str, PendingWait | None] = Field(default_factory=dict, description="By '<node>@<step>'.")
    started_at: str | None = None
    message: str | None = None
    outcome: RunOutcome | None = None
    finished_at: str | None = None
    job: str | None = Field(default=None, description="The executor Job, when spec.executor is job.")
