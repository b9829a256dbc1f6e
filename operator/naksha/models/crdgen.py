"""Generate the CustomResourceDefinitions from the pydantic spec and status models.

Pydantic's JSON schema is close to an OpenAPI v3 schema but not structural in Kubernetes'
sense: it uses ``$ref``/``$defs``, ``anyOf`` with ``null`` for optional fields, and titles. This
module inlines references, drops null branches and noise, and marks free-form maps, so the
result passes the API server's structural-schema checks. ``make crds`` writes the output;
a test fails when the committed files drift from the models.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from naksha.models.group import CATEGORY, GROUP, VERSION
from naksha.models.kinds import KINDS, KindInfo

_DROPPED_KEYS = {"title", "examples", "example", "discriminator"}
_KEPT_KEYS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "enum",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "format",
    "nullable",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
}


def structural_schema(model_schema: Mapping[str, Any], *, defaults: bool = True) -> dict[str, Any]:
    """Turn a pydantic JSON schema into a structural OpenAPI v3 schema.

    ``defaults=False`` leaves the models' defaults out: a status schema only describes what the
    operator writes, and defaults there would make the API server invent values it never wrote.
    """
    definitions = model_schema.get("$defs", {})
    schema = _convert(model_schema, definitions)
    return schema if defaults else _without_defaults(schema)


def _without_defaults(node: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "default":
            continue
        if key == "properties":  # names of fields, not keywords: a field may be called "default"
            result[key] = {name: _without_defaults(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            result[key] = _without_defaults(dict(value))
        else:
            result[key] = value
    return result


def _convert(node: Mapping[str, Any], definitions: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, definitions)
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"unions other than Optional cannot become structural schemas: {node}")
        merged = {**branches[0], **{k: v for k, v in node.items() if k != "anyOf"}}
        if merged.get("default", ...) is None:
            del merged["default"]
        return _convert(merged, definitions)
    if "const" in node:
        node = {**{k: v for k, v in node.items() if k != "const"}, "enum": [node["const"]]}
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or key == "$defs":
            continue
        if key not in _KEPT_KEYS:
            raise ValueError(f"schema keyword {key!r} has no structural equivalent")
        if key == "properties":
            result[key] = {name: _convert(sub, definitions) for name, sub in value.items()}
        elif key in ("items",) or (key == "additionalProperties" and isinstance(value, Mapping)):
            result[key] = _convert(value, definitions)
        elif key == "additionalProperties" and value is False:
            continue  # closed objects are the structural default
        else:
            result[key] = value
    # OpenAPI 3.0 (what CRDs speak) has boolean exclusive bounds next to minimum/maximum.
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(result.get(exclusive), (int, float)) and not isinstance(result[exclusive], bool):
            result[bound] = result[exclusive]
            result[exclusive] = True
    if result.get("x-kubernetes-preserve-unknown-fields") and result.get("type") == "object":
        result.pop("additionalProperties", None)
    if "type" not in result and not result.get("x-kubernetes-preserve-unknown-fields"):
        result["x-kubernetes-preserve-unknown-fields"] = True
    return result


def build_crd(info: KindInfo) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind, as a plain dict."""
    spec_schema = structural_schema(info.spec_model.model_json_schema(by_alias=True, mode="validation"))
    spec_schema["description"] = info.description
    status_schema = structural_schema(
        info.status_model.model_json_schema(by_alias=True, mode="validation"), defaults=False
    )
    status_schema["description"] = "Observed state, written by the operator."
    schema = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": info.crd_name, "labels": {"app.kubernetes.io/part-of": "naksha"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [_column(c) for c in info.columns],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def _column(column: Any) -> dict[str, Any]:
    result = {"name": column.name, "type": column.type, "jsonPath": column.json_path}
    if column.priority:
        result["priority"] = column.priority
    if column.description:
        result["description"] = column.description
    return result


class _PlainDumper(yaml.SafeDumper):
    """Writes repeated sub-trees out in full: anchors and aliases confuse readers of CRDs."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(info: KindInfo) -> str:
    """The YAML text of one CRD file (stable ordering, so diffs stay readable)."""
    header = "# Generated from naksha.models by `make crds`; do not edit by hand.\n"
    return header + yaml.dump(build_crd(info), Dumper=_PlainDumper, sort_keys=False, width=100)


def file_name(info: KindInfo) -> str:
    return f"{GROUP}_{info.plural}.yaml"


def write_all(*directories: Path) -> list[Path]:
    """Write every CRD into each directory; returns the files written."""
    written: list[Path] = []
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
        for info in KINDS:
            path = directory / file_name(info)
            path.write_text(render(info))
            written.append(path)
    return written
