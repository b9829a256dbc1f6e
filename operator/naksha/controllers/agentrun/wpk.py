"""Work packages (WPKs): the named, versioned actions and observations an AgentRun's graph can use.

A WPK is two steps so that a crash never performs an action twice. ``plan`` reads the world and
decides exactly what to do (absolute values: "replicas 6", not "+2"); the engine records that
plan under the action's idempotency key before anything changes. ``apply`` then makes the world
match the plan, and doing it again changes nothing. Reversible WPKs say how to ``revert`` a plan
they applied. Each declares its parameters (a pydantic model, checked when a playbook loads) and
the RBAC it needs, which ``naksha wpk list`` prints.

The built-in set lives in ``naksha.controllers.agentrun.packages``; ``REGISTRY`` maps names to WPKs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from naksha.errors import NakshaError
from naksha.kube import Kube
from naksha.models.common import ObjectTarget

Plan = dict[str, Any]
Result = dict[str, Any]


class WpkError(NakshaError):
    """A work package could not do its job; the message is shown in the run's step record."""


class NotYet(NakshaError):
    """Raised by ``apply`` of a waiting package: call again later with the same plan."""


@dataclass
class WpkContext:
    """What a work package sees: the API, the run's namespace, its target and state."""

    kube: Kube
    namespace: str
    run_name: str
    target: ObjectTarget | None
    state: Mapping[str, Any]
    signal: Mapping[str, Any] = field(default_factory=dict)  # the run's spec.signal (camelCase)
    # The target as the guardrails' lock left it: a plan may start from it instead of reading again.
    target_object: Mapping[str, Any] | None = None
    dry_run: bool = False
    key: str = ""
    clock: Callable[[], float] = time.time
    http_timeout: float = 5.0
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)

    def target_namespace(self) -> str:
        return (self.target.namespace if self.target is not None and self.target.namespace else None) or (
            self.namespace
        )

    def require_target(self, *kinds: str) -> ObjectTarget:
        if self.target is None:
            raise WpkError(f"this work package needs spec.target (one of: {', '.join(kinds)})")
        if kinds and self.target.kind not in kinds:
            raise WpkError(
                f"the target is a {self.target.kind}; this work package acts on {', '.join(kinds)}"
            )
        return self.target


PlanFn = Callable[[WpkContext, Any], Plan]
ApplyFn = Callable[[WpkContext, Any, Plan], Result]
RevertFn = Callable[[WpkContext, Any, Plan], Result]


@dataclass(frozen=True)
class WorkPackage:
    name: str
    version: str
    summary: str
    params: type[BaseModel]
    mode: Literal["observe", "act"]
    rbac: tuple[str, ...]
    plan: PlanFn
    apply: ApplyFn
    revert: RevertFn | None = None
    waits: bool = False  # its plan is kept while the node waits, so a restart resumes the wait
    # Parameters whose value names a namespace the package reads or writes in. They are fenced
    # (``naksha.controllers.agentrun.fence``) and must be literal names, so the fence is known before
    # a run starts.
    namespace_params: tuple[str, ...] = ()

    @property
    def reversible(self) -> bool:
        return self.revert is not None

    def parse_params(self, raw: Mapping[str, Any]) -> BaseModel:
        try:
            return self.params.model_validate(dict(raw))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in error.errors()
            )
            raise WpkError(f"wpk {self.name}: {problems}") from None


REGISTRY: dict[str, WorkPackage] = {}


def register(package: WorkPackage) -> WorkPackage:
    if package.name in REGISTRY:
        raise ValueError(f"a work package named {package.name!r} is already registered")
    REGISTRY[package.name] = package
    return package


def lookup(name: str) -> WorkPackage:
    # Importing the built-ins registers them; done here so the registry is never seen empty.
    import naksha.controllers.agentrun.packages  # noqa: F401

    try:
        return REGISTRY[name]
    except KeyError:
        raise WpkError(f"unknown work package {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def registered() -> list[WorkPackage]:
    """Every work package, the built-ins included."""
    import naksha.controllers.agentrun.packages  # noqa: F401

    return list(REGISTRY.values())


def describe_registry() -> str:
    """The table ``naksha wpk list`` prints."""
    import naksha.controllers.agentrun.packages  # noqa: F401

    rows = [("NAME", "VERSION", "MODE", "REVERSIBLE", "PARAMETERS", "RBAC")]
    for package in sorted(REGISTRY.values(), key=lambda p: p.name):
        params = ",".join(
            f"{field.alias or name}{'' if field.is_required() else '?'}"
            for name, field in package.params.model_fields.items()
        )
        rows.append(
            (
                package.name,
                package.version,
                package.mode,
                "yes" if package.reversible else "no",
                params or "-",
                "; ".join(package.rbac) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )
