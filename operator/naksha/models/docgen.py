"""Generate the API reference (docs/api-reference.md) from the same schemas as the CRDs.

One table per kind lists every spec field with its type, default and constraints, and one its
status fields (from the kind's status model), so the reference can never disagree with what the
API server enforces and the operator writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from naksha.models.crdgen import build_crd
from naksha.models.group import API_VERSION
from naksha.models.kinds import KINDS, KindInfo

_CONSTRAINTS: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("enum", lambda v: "one of " + ", ".join(f"`{item}`" for item in v)),
    ("minimum", lambda v: f"≥ {v}"),
    ("maximum", lambda v: f"≤ {v}"),
    ("minLength", lambda v: f"length ≥ {v}"),
    ("maxLength", lambda v: f"length ≤ {v}"),
    ("minItems", lambda v: f"items ≥ {v}"),
    ("maxItems", lambda v: f"items ≤ {v}"),
    ("pattern", lambda v: f"matches `{v}`"),
)


def render_reference() -> str:
    lines = [
        "# API reference",
        "",
        "<!-- Generated from naksha.models by `make crds`; do not edit by hand. -->",
        "",
        f"Every kind is served as `{API_VERSION}`, namespaced, with a status subresource.",
        "Fields marked **required** must be set; defaults are filled in by the API server.",
        "",
    ]
    for kind in KINDS:
        lines.extend(_kind_section(kind))
    return "\n".join(lines) + "\n"


def _kind_section(kind: KindInfo) -> list[str]:
    crd = build_crd(kind)
    version = crd["spec"]["versions"][0]
    spec_schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    short = ", ".join(f"`{name}`" for name in kind.short_names)
    lines = [
        f"## {kind.kind}",
        "",
        f"{kind.description} Plural `{kind.plural}`, short names {short}, category `naksha`.",
        "",
        "| field | type | default | constraints | description |",
        "|---|---|---|---|---|",
    ]
    for path, node, required in _walk(spec_schema, "spec", required=True):
        lines.append(
            f"| `{path}`{' **required**' if required else ''} | {_type(node)} | {_default(node)} "
            f"| {_constraints(node)} | {_escape(node.get('description', ''))} |"
        )
    status_schema = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    lines += [
        "",
        "**Status** (written by the operator):",
        "",
        "| field | type | description |",
        "|---|---|---|",
    ]
    for path, node, _ in _walk(status_schema, "status", required=False):
        lines.append(f"| `{path}` | {_type(node)} | {_escape(node.get('description', ''))} |")
    columns = ", ".join(c["name"] for c in version["additionalPrinterColumns"])
    lines += ["", f"`kubectl get {kind.plural}` shows: {columns}.", ""]
    return lines


def _walk(
    node: Mapping[str, Any], path: str, *, required: bool
) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    yield path, node, required
    needed = set(node.get("required", ()))
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}", required=name in needed)
    items = node.get("items")
    if isinstance(items, Mapping) and items.get("properties"):
        for name, child in items["properties"].items():
            yield from _walk(child, f"{path}[].{name}", required=name in set(items.get("required", ())))


def _type(node: Mapping[str, Any]) -> str:
    kind = str(node.get("type", "any"))
    if kind == "array" and isinstance(node.get("items"), Mapping):
        return f"array of {node['items'].get('type', 'any')}"
    if kind == "object" and isinstance(node.get("additionalProperties"), Mapping):
        return f"map of {node['additionalProperties'].get('type', 'any')}"
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return "object (free-form)"
    return kind


def _default(node: Mapping[str, Any]) -> str:
    return f"`{json.dumps(node['default'])}`" if "default" in node else ""


def _constraints(node: Mapping[str, Any]) -> str:
    parts = [render(node[key]) for key, render in _CONSTRAINTS if key in node]
    if node.get("exclusiveMinimum") is True:
        parts = [f"> {node['minimum']}" if p == f"≥ {node['minimum']}" else p for p in parts]
    if node.get("exclusiveMaximum") is True:
        parts = [f"< {node['maximum']}" if p == f"≤ {node['maximum']}" else p for p in parts]
    return "; ".join(parts)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
