"""Playbooks: named graphs of observe/decide/act/verify/end nodes, built in or from labelled ConfigMaps.

This module is pure: it parses and validates graphs against the work packages it is given;
``naksha.controllers.agentrun.playbooks`` reads the ConfigMaps and passes the registry.

A user playbook is a ConfigMap labelled ``naksha.io/playbook`` whose ``playbook.yaml`` key holds a
graph (the same shape as an AgentRun's inline ``spec.graph``). Every graph is validated before it
runs, with errors a user can act on: unknown work packages, parameters a WPK does not take or
lacks, conditions the safe evaluator refuses, edges to nowhere, nodes no path reaches, decide
nodes without a way out, and loops from which no end node can be reached.

Node parameters may be templates: a string ``"${expr}"`` is replaced by the value of ``expr``
over ``state``, ``inputs``, ``signal`` and ``target`` when the node runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ValidationError

from naksha.domain.expressions import ExpressionError, compile_expression
from naksha.errors import NakshaError
from naksha.models.agentrun import Graph

PLAYBOOK_KEY = "playbook.yaml"
TEMPLATE = re.compile(r"^\$\{([^{}]+)\}$")
EMBEDDED = re.compile(r"\$\{([^{}]+)\}")


class PlaybookError(NakshaError, ValueError):
    """The playbook cannot run; the message lists every problem found."""


class Package(Protocol):
    """What validation needs to know of a work package (``naksha.controllers.agentrun.wpk``)."""

    @property
    def name(self) -> str: ...

    @property
    def mode(self) -> Literal["observe", "act"]: ...

    @property
    def params(self) -> type[BaseModel]: ...

    @property
    def namespace_params(self) -> tuple[str, ...]: ...


Packages = Mapping[str, Package]


def _graph(raw: Mapping[str, Any]) -> Graph:
    return Graph.model_validate(raw)


def _observe_signal() -> dict[str, Any]:
    """Read the detector that raised the run's signal."""
    return {
        "name": "observe",
        "type": "observe",
        "wpk": "query-metric",
        "params": {"stream": "${signal.stream}", "detector": "${signal.detector}"},
        "next": "decide",
    }


def _verify_signal() -> dict[str, Any]:
    """Wait until the detector that raised the run's signal has recovered."""
    return {
        "name": "verify",
        "type": "verify",
        "wpk": "query-metric",
        "params": {"stream": "${signal.stream}", "detector": "${signal.detector}", "window": "1m"},
        "next": "done",
    }


BUILTIN: dict[str, Graph] = {
    "scale-out-on-latency": _graph(
        {
            "start": "observe",
            "nodes": [
                _observe_signal(),
                {
                    "name": "decide",
                    "type": "decide",
                    "edges": [
                        {
                            "when": "state.anomalous and state.replicas < (inputs.maxReplicas or 10)",
                            "to": "scale",
                        },
                        {"to": "done"},
                    ],
                },
                {
                    "name": "scale",
                    "type": "act",
                    "wpk": "scale",
                    "params": {"delta": "${inputs.step or 2}", "max": "${inputs.maxReplicas or 10}"},
                    "next": "verify",
                },
                _verify_signal(),
                {"name": "done", "type": "end"},
            ],
        }
    ),
    "restart-on-crash-loop": _graph(
        {
            "start": "restart",
            "nodes": [
                {"name": "restart", "type": "act", "wpk": "restart", "next": "settle"},
                {
                    "name": "settle",
                    "type": "observe",
                    "wpk": "wait",
                    "params": {"duration": "30s"},
                    "next": "done",
                },
                {"name": "done", "type": "end"},
            ],
        }
    ),
    "rollback-on-error-rate": _graph(
        {
            "start": "observe",
            "nodes": [
                _observe_signal(),
                {
                    "name": "decide",
                    "type": "decide",
                    "edges": [{"when": "state.anomalous", "to": "rollback"}, {"to": "done"}],
                },
                {
                    "name": "rollback",
                    "type": "act",
                    "wpk": "rollback-rollout",
                    "params": {"reason": "error rate anomaly on ${signal.stream}/${signal.detector}"},
                    "next": "verify",
                },
                _verify_signal(),
                {"name": "done", "type": "end"},
            ],
        }
    ),
    "cordon-unhealthy-edge": _graph(
        {
            "start": "cordon",
            "nodes": [
                {"name": "cordon", "type": "act", "wpk": "cordon-edge", "next": "tell"},
                {
                    "name": "tell",
                    "type": "act",
                    "wpk": "notify",
                    "params": {"reason": "EdgeCordoned", "message": "cordoned after an anomaly"},
                    "next": "done",
                },
                {"name": "done", "type": "end"},
            ],
        }
    ),
}


def parse_config_map(config_map: Mapping[str, Any], packages: Packages) -> Graph:
    name = (config_map.get("metadata") or {}).get("name", "?")
    text = (config_map.get("data") or {}).get(PLAYBOOK_KEY)
    if not text:
        raise PlaybookError(f"ConfigMap {name} has no {PLAYBOOK_KEY!r} key")
    try:
        graph = Graph.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as error:
        raise PlaybookError(f"playbook {name}: {error}") from None
    validate(graph, packages, source=f"playbook {name}")
    return graph


def validate(graph: Graph, packages: Packages, *, source: str = "graph") -> None:
    """Raise ``PlaybookError`` listing every problem of the graph (its work packages from ``packages``)."""
    problems = [*_node_problems(graph, packages), *_shape_problems(graph)]
    if problems:
        raise PlaybookError(f"{source}: " + "; ".join(problems))


def _node_problems(graph: Graph, packages: Packages) -> list[str]:
    problems = []
    for node in graph.nodes:
        for edge in node.edges:
            if edge.when is not None:
                try:
                    compile_expression(edge.when)
                except ExpressionError as error:
                    problems.append(f"node {node.name}: condition {edge.when!r}: {error}")
        if node.type == "decide" and not node.edges and not node.next:
            problems.append(f"decide node {node.name} has no way out")
        if node.wpk is None:
            continue
        package = packages.get(node.wpk)
        if package is None:
            known = ", ".join(sorted(packages))
            problems.append(f"node {node.name}: unknown work package {node.wpk!r}; known: {known}")
            continue
        if node.type == "act" and package.mode != "act":
            problems.append(
                f"node {node.name}: {node.wpk} only observes; use it in an observe or verify node"
            )
        if node.type in ("observe", "verify") and package.mode == "act":
            problems.append(f"node {node.name}: {node.wpk} changes things; use it in an act node")
        problems += [f"node {node.name}: {p}" for p in _param_problems(package, dict(node.params))]
    return problems


def _param_problems(package: Package, params: dict[str, Any]) -> list[str]:
    problems = []
    for value in _strings(params):
        for expression in EMBEDDED.findall(value):
            try:
                compile_expression(expression)
            except ExpressionError as error:
                problems.append(f"template {value!r}: {error}")
    for name in package.namespace_params:
        named = params.get(name)
        if named is not None and (not isinstance(named, str) or EMBEDDED.search(named)):
            problems.append(f"{package.name}: {name} must be a literal namespace name, not a template")
    fields = package.params.model_fields
    known = {field.alias or name for name, field in fields.items()} | set(fields)
    problems += [f"{package.name} takes no parameter {key!r}" for key in params if key not in known]
    for name, field in fields.items():
        if field.is_required() and (field.alias or name) not in params and name not in params:
            problems.append(f"{package.name} needs parameter {field.alias or name!r}")
    return problems


def _shape_problems(graph: Graph) -> list[str]:
    successors = {n.name: [*([n.next] if n.next else []), *(e.to for e in n.edges)] for n in graph.nodes}
    reachable = _closure([graph.start], successors)
    problems = [
        f"node {name} is unreachable from {graph.start}" for name in successors if name not in reachable
    ]
    ends = {n.name for n in graph.nodes if n.type == "end"}
    if not ends:
        problems.append("the graph has no end node")
        return problems
    for name in sorted(reachable):
        if not _closure([name], successors) & ends:
            problems.append(f"from node {name} no end node can be reached (a loop without exit)")
    return problems


def _closure(start: list[str], successors: Mapping[str, list[str]]) -> set[str]:
    seen, stack = set(), list(start)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(successors.get(name, ()))
    return seen


def render_params(params: Mapping[str, Any], variables: Mapping[str, Any]) -> dict[str, Any]:
    """Node parameters with ``${expr}`` templates replaced, in nested maps and lists too.

    A value that is one template takes the expression's value and type (``"${inputs.step}"`` → 2);
    templates inside a longer string are interpolated as text.
    """
    return {key: _render(value, variables) for key, value in params.items()}


def _render(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        whole = TEMPLATE.match(value)
        if whole:
            return compile_expression(whole[1])(variables)
        return EMBEDDED.sub(lambda part: str(compile_expression(part[1])(variables)), value)
    if isinstance(value, Mapping):
        return {key: _render(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, variables) for item in value]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []
