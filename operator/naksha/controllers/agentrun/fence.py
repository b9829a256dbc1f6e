"""Where an AgentRun may reach: every namespace it can touch, and the rule that fences them.

A run touches its own namespace (it lives there; its InsightStreams and Events are there), its
target's namespace (it acts there), the namespaces of the playbooks it names
(``playbookRef.namespace``, ``fallbacks[].namespace``: it reads them) and any namespace a node's
WPK parameters name (a package lists those parameters in ``WorkPackage.namespace_params``).

Two rules, applied by the HTTP API before it creates a run (answered 403 with the reason) and
again by the engine before the run reads or acts (the run ends ``Refused``), so a run created
with ``kubectl`` is held to them as well:

- a run acts only in its own namespace: ``spec.target.namespace``, when set, must be the run's
  (``CrossNamespaceTarget``). Creating an AgentRun in a namespace is the authority to have the
  operator act there; nothing records who created a run, so a target elsewhere would let anyone
  who may create runs in one namespace act in another through the operator;
- every namespace reached lies inside the fence: the operator's allowed namespaces
  (``NAKSHA_AGENT_NAMESPACES``, else those it serves, ``NAKSHA_NAMESPACES``, else all) and, for
  an API request, the caller's own (``NamespaceNotAllowed``).

``reach`` also says which access each namespace needs (``Access``: verb, group, resource), taken
from the WPK registry's RBAC, so the API can ask whether the caller could do it themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from naksha.access.reviews import Access
from naksha.controllers.agentrun import guardrails
from naksha.controllers.agentrun.wpk import WorkPackage, WpkError, lookup
from naksha.domain.agentrun.playbooks import TEMPLATE
from naksha.kube import resource_for
from naksha.models.agentrun import AgentRunSpec, Graph
from naksha.models.common import ObjectTarget
from naksha.models.group import GROUP
from naksha.settings import OperatorSettings

TARGET_KIND = "the target's kind"


@dataclass
class Reach:
    """A namespace a run touches, why (for the refusal's message) and what it needs there."""

    namespace: str
    why: list[str] = field(default_factory=list)
    access: set[Access] = field(default_factory=set)


CREATE_RUNS = Access("create", GROUP, "agentruns")
READ_PLAYBOOKS = Access("get", "", "configmaps")


def allowed_namespaces(settings: OperatorSettings) -> frozenset[str] | None:
    """The operator's fence: NAKSHA_AGENT_NAMESPACES, else the served namespaces; None means all."""
    names = settings.agent_namespaces or settings.namespaces
    return frozenset(names) if names else None


def reach(namespace: str, spec: AgentRunSpec, graphs: Iterable[Graph] = ()) -> dict[str, Reach]:
    """Every namespace a run in ``namespace`` with ``spec`` (running ``graphs``) touches."""
    found: dict[str, Reach] = {}

    def add(where: str, why: str, *access: Access) -> None:
        entry = found.setdefault(where, Reach(where))
        if why not in entry.why:
            entry.why.append(why)
        entry.access.update(access)

    add(namespace, "the run itself", CREATE_RUNS)
    if spec.target is not None:
        try:
            resource_for(spec.target.api_version, spec.target.kind)
        except KeyError as error:
            raise guardrails.Refusal("KindNotAllowed", str(error.args[0])) from None
        if spec.target.namespace:
            add(spec.target.namespace, "spec.target")
    for where, ref in _playbook_refs(spec):
        if ref:
            add(ref, where, READ_PLAYBOOKS)
    for graph in graphs:
        for node in graph.nodes:
            if node.wpk is None:
                continue
            package = _package(node.wpk)
            if package.mode == "act":  # acts happen in the run's own namespace (the rule below)
                add(namespace, f"node {node.name} ({node.wpk})", *rules(package, spec.target))
            elsewhere = rules(package, None)  # what it reads there, not the target's kind
            for name in package.namespace_params:
                value = node.params.get(name)
                if isinstance(value, str) and value and not TEMPLATE.match(value):
                    add(value, f"node {node.name}: {name}", *elsewhere)
    return found


def _playbook_refs(spec: AgentRunSpec) -> list[tuple[str, str | None]]:
    refs = [("spec.playbookRef", spec.playbook_ref.namespace if spec.playbook_ref else None)]
    refs += [(f"spec.fallbacks[{i}]", ref.namespace) for i, ref in enumerate(spec.fallbacks)]
    return refs


def _package(name: str) -> WorkPackage:
    try:
        return lookup(name)
    except WpkError as error:
        raise guardrails.Refusal("InvalidPlaybook", str(error)) from None


def rules(package: WorkPackage, target: ObjectTarget | None) -> set[Access]:
    """The permissions a package needs, from its RBAC lines (``apps/deployments: get, patch``).

    A package that may act on several kinds (``scale``: Deployments or Rollouts) needs only the
    rules of the run's target kind; ``the target's kind`` is that kind's resource.
    """
    target_resource = None
    if target is not None:
        try:
            ref = resource_for(target.api_version, target.kind)
            target_resource = (ref.group, ref.plural)
        except KeyError:
            target_resource = None
    parsed = [_rule(line, target_resource) for line in package.rbac]
    kinds = {resource for resource, _ in parsed if resource is not None}
    needed: set[Access] = set()
    for resource, verbs in parsed:
        if resource is None:
            continue
        if target_resource in kinds and resource != target_resource and _targetable(resource):
            continue  # a rule for another kind this package could act on, not this run's target
        needed.update(Access(verb, resource[0], resource[1]) for verb in verbs)
    return needed


def target_problems(graphs: Iterable[Graph], target: ObjectTarget | None) -> list[str]:
    """Act nodes whose package cannot act on the run's target's kind (its RBAC names other kinds)."""
    if target is None:
        return []
    try:
        ref = resource_for(target.api_version, target.kind)
    except KeyError:
        return []
    problems = []
    for graph in graphs:
        for node in graph.nodes:
            if node.type != "act" or node.wpk is None:
                continue
            package = _package(node.wpk)
            kinds = {
                resource
                for resource, _ in (_rule(line, None) for line in package.rbac)
                if resource is not None
            }
            targetable = {resource for resource in kinds if _targetable(resource)}
            if targetable and (ref.group, ref.plural) not in targetable and not _names_target_kind(package):
                names = ", ".join(sorted(plural for _, plural in targetable))
                problems.append(
                    f"node {node.name}: {node.wpk} acts on {names}, not on the target's {target.kind}"
                )
    return problems


def _names_target_kind(package: WorkPackage) -> bool:
    return any(line.partition(":")[0].strip() == TARGET_KIND for line in package.rbac)


def _rule(line: str, target: tuple[str, str] | None) -> tuple[tuple[str, str] | None, list[str]]:
    subject, _, verbs_text = line.partition(":")
    verbs = [verb.strip() for verb in verbs_text.split(",") if verb.strip()]
    if subject.strip() == TARGET_KIND:
        return target, verbs
    group, _, resource = subject.strip().rpartition("/")
    return (("" if group == "core" else group), resource), verbs


def _targetable(resource: tuple[str, str]) -> bool:
    default_kinds = OperatorSettings.agent_kinds
    for kind in default_kinds:
        ref = resource_for(None, kind)
        if (ref.group, ref.plural) == resource:
            return True
    return False


def check(
    namespace: str,
    reached: Mapping[str, Reach],
    *,
    allowed: frozenset[str] | None,
    caller: frozenset[str] | None = None,
    caller_name: str = "the caller",
    target: ObjectTarget | None = None,
) -> None:
    """Raise ``guardrails.Refusal`` naming the first namespace outside the fence, and why it is reached."""
    if target is not None and target.namespace and target.namespace != namespace:
        raise guardrails.Refusal(
            "CrossNamespaceTarget",
            f"spec.target is in namespace {target.namespace!r} but the run is in {namespace!r}: "
            "a run acts only in its own namespace (create the run in the target's namespace)",
        )
    for where, entry in sorted(reached.items()):
        because = ", ".join(entry.why)
        if allowed is not None and where not in allowed:
            raise guardrails.Refusal(
                "NamespaceNotAllowed",
                f"namespace {where!r} ({because}) is not one this operator lets runs reach "
                f"(allowed: {', '.join(sorted(allowed))})",
            )
        if caller is not None and where not in caller:
            raise guardrails.Refusal(
                "NamespaceNotAllowed",
                f"namespace {where!r} ({because}) is outside the namespaces {caller_name} may use "
                f"({', '.join(sorted(caller)) or 'none'})",
            )


def enforce(
    settings: OperatorSettings, namespace: str, spec: AgentRunSpec, graphs: Iterable[Graph] = ()
) -> None:
    """The engine's check: the run, its target, its playbooks and its graphs' parameters."""
    check(
        namespace,
        reach(namespace, spec, graphs),
        allowed=allowed_namespaces(settings),
        target=spec.target,
    )


def enforce_params(
    settings: OperatorSettings, namespace: str, node: str, package: WorkPackage, params: Mapping[str, Any]
) -> None:
    """The engine's check of one node's rendered parameters, just before the node runs."""
    allowed = allowed_namespaces(settings)
    for name in package.namespace_params:
        value = params.get(name)
        if value is None or value == namespace:
            continue
        if not isinstance(value, str) or (allowed is not None and value not in allowed):
            raise guardrails.Refusal(
                "NamespaceNotAllowed",
                f"node {node}: {name}={value!r} is not a namespace this operator lets runs reach"
                + (f" (allowed: {', '.join(sorted(allowed))})" if allowed is not None else ""),
            )
