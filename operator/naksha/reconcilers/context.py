"""The context a reconciliation works on: the object as read, and the status being built.

Steps fill ``status`` (the kind's typed status model), ``phase``, ``conditions`` and ``events``;
the status is written once at the end (by the handler, through kopf's patch, or ``write()``).
A write that must be durable before the next step goes through ``checkpoint()``, the one other
place a reconciliation writes status; each caller says why it cannot wait.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from naksha.kube import KubeApi, resource_for
from naksha.models.common import NakshaModel
from naksha.models.conditions import Condition, ConditionStatus, Reason, remove_condition, set_condition
from naksha.models.group import API_VERSION
from naksha.models.kinds import KindInfo
from naksha.models.status import NakshaStatus
from naksha.settings import OperatorSettings


@dataclass(frozen=True)
class EventRecord:
    """An Event to post about the object (``kubectl describe`` shows them)."""

    type: Literal["Normal", "Warning"]
    reason: Reason
    message: str


@dataclass
class ReconcileContext:
    """One reconciliation of one object; steps read the inputs and fill the outputs."""

    kind: KindInfo
    name: str
    namespace: str
    uid: str
    generation: int | None
    raw_spec: Mapping[str, Any]
    old_status: Mapping[str, Any]
    annotations: Mapping[str, str] = field(default_factory=dict)
    resource_version: str | None = None  # as read, then as left by this pass's checkpoint()
    spec: NakshaModel | None = None
    phase: str | None = None
    conditions: list[dict[str, Any]] = field(default_factory=list)
    status: NakshaStatus = field(default_factory=NakshaStatus)  # the kind's own fields, being built
    work: object = None  # a kind's per-pass working state besides the status (the Rollout's RolloutPass)
    events: list[EventRecord] = field(default_factory=list)
    halted: bool = False
    retry_after: float | None = None
    kube: KubeApi | None = None
    settings: OperatorSettings = field(default_factory=OperatorSettings)

    @classmethod
    def from_body(
        cls,
        kind: KindInfo,
        body: Mapping[str, Any],
        *,
        kube: KubeApi | None = None,
        settings: OperatorSettings | None = None,
    ) -> ReconcileContext:
        metadata = body.get("metadata") or {}
        status = body.get("status") or {}
        return cls(
            kind=kind,
            name=str(metadata.get("name", "")),
            namespace=str(metadata.get("namespace", "")),
            uid=str(metadata.get("uid", "")),
            generation=metadata.get("generation"),
            raw_spec=body.get("spec") or {},
            old_status=status,
            annotations=dict(metadata.get("annotations") or {}),
            resource_version=metadata.get("resourceVersion"),
            phase=status.get("phase"),
            conditions=[dict(c) for c in status.get("conditions") or []],
            status=kind.status_model(),
            kube=kube,
            settings=settings or OperatorSettings(),
        )

    def api(self) -> KubeApi:
        """The API client; reconcilers that need one are only run with one."""
        if self.kube is None:
            raise RuntimeError(f"reconciling {self.kind.kind} needs an API client")
        return self.kube

    def owner_reference(self) -> dict[str, Any]:
        """An ownerReference to this object, for the children it creates (garbage-collected with it)."""
        return {
            "apiVersion": API_VERSION,
            "kind": self.kind.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def set_condition(self, type_: str, status: ConditionStatus, reason: Reason, message: str) -> None:
        self.conditions = set_condition(
            self.conditions,
            type_=type_,
            status=status,
            reason=reason,
            message=message,
            generation=self.generation,
        )

    def clear_condition(self, type_: str) -> None:
        self.conditions = remove_condition(self.conditions, type_)

    def condition_changed(self, type_: str) -> bool:
        """Whether the condition's status differs from what the object carried before."""
        before = {c.get("type"): c.get("status") for c in self.old_status.get("conditions") or []}
        after = {c.get("type"): c.get("status") for c in self.conditions}
        return before.get(type_) != after.get(type_)

    def event(self, type_: Literal["Normal", "Warning"], reason: Reason, message: str) -> None:
        self.events.append(EventRecord(type_, reason, message))

    def halt(self) -> None:
        """Skip the remaining steps (the status built so far is still written)."""
        self.halted = True

    def status_patch(self) -> dict[str, Any]:
        """The whole new status as a merge patch (``NakshaStatus.wire``), written once."""
        status = self.status.model_copy(deep=True)
        if self.phase is not None:
            status.phase = self.phase
        if self.generation is not None:
            status.observed_generation = self.generation
        status.conditions = [Condition.model_validate(c) for c in self.conditions]
        return status.wire()

    def write(self) -> None:
        """Write the status built so far: for handlers without kopf's patch (raw event handlers)."""
        self._patch_status()

    def checkpoint(self) -> None:
        """Make the status built so far durable now, before the next step acts on it.

        Only for what a restart must find even if the pass dies before its end (a recorded
        rollback before the spec is reverted); everything else waits for the one write at the end.
        """
        self._patch_status()

    def _patch_status(self) -> None:
        resource = resource_for(API_VERSION, self.kind.kind)
        patch = {"status": self.status_patch()}
        written = self.api().merge_patch(resource, self.namespace, self.name, patch, status=True)
        self.resource_version = (written.get("metadata") or {}).get("resourceVersion", self.resource_version)


Step = Callable[[ReconcileContext], None]


def run_steps(context: ReconcileContext, steps: Sequence[Step] | Iterable[Step]) -> ReconcileContext:
    """Run the steps in order until one halts the reconciliation."""
    for step in steps:
        if context.halted:
            break
        step(context)
    return context
