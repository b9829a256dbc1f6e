"""Playbooks as the controller finds them: a labelled ConfigMap, else a built-in; validated.

The graphs, their parsing and validation are pure (``naksha.domain.agentrun.playbooks``); this
module reads the ConfigMap through ``naksha.kube`` and validates against the registered work
packages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from naksha.controllers.agentrun.wpk import registered
from naksha.domain.agentrun import playbooks as pure
from naksha.domain.agentrun.playbooks import BUILTIN, PlaybookError
from naksha.kube import Kube, NotFound
from naksha.models.agentrun import Graph
from naksha.models.labels import PLAYBOOK_LABEL
from naksha.models.resources import CONFIG_MAPS

__all__ = ["BUILTIN", "PlaybookError", "parse_config_map", "render_params", "resolve", "validate"]

render_params = pure.render_params


def packages() -> dict[str, pure.Package]:
    """Every registered work package by name, the built-ins included."""
    return {package.name: package for package in registered()}


def validate(graph: Graph, *, source: str = "graph") -> None:
    pure.validate(graph, packages(), source=source)


def parse_config_map(config_map: Mapping[str, Any]) -> Graph:
    return pure.parse_config_map(config_map, packages())


def resolve(kube: Kube | None, namespace: str, name: str, ref_namespace: str | None = None) -> Graph:
    """A user playbook (ConfigMap) of that name, else the built-in one; validated."""
    if kube is not None:
        where = ref_namespace or namespace
        try:
            config_map = kube.get(CONFIG_MAPS, where, name)
        except NotFound:
            config_map = None
        if config_map is not None:
            if PLAYBOOK_LABEL not in ((config_map.get("metadata") or {}).get("labels") or {}):
                raise PlaybookError(f"ConfigMap {where}/{name} is not labelled {PLAYBOOK_LABEL}")
            return parse_config_map(config_map)
    if name in BUILTIN:
        return BUILTIN[name]
    raise PlaybookError(
        f"no playbook {name!r}: no labelled ConfigMap and no built-in (built in: {', '.join(BUILTIN)})"
    )
