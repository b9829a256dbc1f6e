"""The context a reconciliation works on: the object as read, and the status being built."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from naksha.kube import Kube, resource_for
from naksha.models.common import NakshaModel
from naksha.models.conditions import ConditionStatus, remove_condition, set_condition
from naksha.models.group import API_VERSION
from naksha.models.kinds import KindInfo
from naksha.settings import OperatorSettings


@dataclass(frozen=True)
class EventRecord:
    """An Event to post about the object (``kubectl describe`` shows them)."""

    type: Literal["Normal", "Warning"]
    reason: str
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
    spec: NakshaModel | None = None
    phase: str | None = None
    conditions: list[dict[str, Any]] = field(default_factory=list)
    extra_status: dict[str, Any] = field(default_factory=dict)
    events: list[EventRecord] = field(default_factory=list)
    halted: bool = False
    retry_after: float | None = None
    kube: Kube | None = None
    settings: OperatorSettings = field(default_factory=OperatorSettings)

    @classmethod
    def from_body(
        cls,
        kind: KindInfo,
        body: Mapping[str, Any],
        *,
        kube: Kube | None = None,
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
            phase=status.get("phase"),
            conditions=[dict(c) for c in status.get("conditions") or []],
            kube=kube,
            settings=settings or OperatorSettings(),
        )

    def api(self) -> Kube:
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

    def set_condition(self, type_: str, status: ConditionStatus, reason: str, message: str) -> None:
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

    def event(self, type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.events.append(EventRecord(type_, reason, message))

    def halt(self) -> None:
        """Skip the remaining steps (the status built so far is still written)."""
        self.halted = True

    def checkpoint(self) -> None:
        """Write the status built so far now: for the one step whose effect must find it recorded.

        Callers say why in a comment; everything else waits for the handler's single write.
        """
        ref = resource_for(API_VERSION, self.kind.kind)
        self.api().merge_patch(ref, self.namespace, self.name, {"status": self.status_patch()}, status=True)

    def status_patch(self) -> dict[str, Any]:
        """The whole new status, written once by the handler."""
        status: dict[str, Any] = dict(self.extra_status)
        if self.phase is not None:
            status["phase"] = self.phase
        if self.generation is not None:
            status["observedGeneration"] = self.generation
        status["conditions"] = self.conditions
        return status


Step = Callable[[ReconcileContext], None]


def run_steps(context: ReconcileContext, steps: Sequence[Step] | Iterable[Step]) -> ReconcileContext:
    """Run the steps in order until one halts the reconciliation."""
    for step in steps:
        if context.halted:
            break
        step(context)
    return context
