"""Server-side printing: ``Table`` responses for ``kubectl get``, from CRD printer columns.

Built-in kinds with columns of their own (pods, deployments...) are printed by ``printers``.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from naksha.local.apiserver import printers
from naksha.local.apiserver.resources import ResourceDef

_FILTER = re.compile(r"^\[\?\(@\.([A-Za-z0-9_.]+)\s*==\s*['\"]([^'\"]*)['\"]\)\]")
_INDEX = re.compile(r"^\[(\d+|\*)\]")
_FIELD = re.compile(r"^\.([A-Za-z0-9_\-]+)")


def json_path(obj: Any, expression: str) -> list[Any]:
    """A subset of kubectl's JSONPath: ``.a.b``, ``.a[0].b``, ``.a[*]``, ``.a[?(@.type=="Ready")].status``."""
    nodes = [obj]
    rest = expression.strip().removeprefix("{").removesuffix("}").strip()
    while rest:
        if match := _FIELD.match(rest):
            nodes = [n.get(match[1]) for n in nodes if isinstance(n, dict) and match[1] in n]
        elif match := _INDEX.match(rest):
            if match[1] == "*":
                nodes = [item for n in nodes if isinstance(n, list) for item in n]
            else:
                index = int(match[1])
                nodes = [n[index] for n in nodes if isinstance(n, list) and len(n) > index]
        elif match := _FILTER.match(rest):
            key_path, wanted = match[1].split("."), match[2]
            selected = []
            for node in nodes:
                for item in node if isinstance(node, list) else []:
                    value: Any = item
                    for part in key_path:
                        value = value.get(part) if isinstance(value, dict) else None
                    if value is not None and str(value) == wanted:
                        selected.append(item)
            nodes = selected
        else:
            return []
        rest = rest[match.end() :]
    return nodes


def _age(timestamp: Any) -> str:
    """Elapsed time the way kubectl shows it (``42s``, ``5m``, ``3h``, ``2d``)."""
    return printers.age({"metadata": {"creationTimestamp": timestamp}})


def _cell(obj: dict[str, Any], column: dict[str, Any]) -> Any:
    values = json_path(obj, column.get("jsonPath", ""))
    if not values:
        return None
    value = values[0] if len(values) == 1 else ",".join(str(v) for v in values)
    if column.get("type") == "date":
        return _age(value)
    return value


def table(
    resource: ResourceDef,
    objects: list[dict[str, Any]],
    *,
    include_object: bool = True,
    resource_version: str = "",
) -> dict[str, Any]:
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    builtin = printers.BUILTIN.get((resource.group, resource.plural)) if not resource.is_custom else None
    custom = list(resource.printer_columns)
    if not custom:
        custom = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    for column in custom if builtin is None else []:
        columns.append(
            {
                "name": column["name"],
                "type": column.get("type", "string"),
                "format": column.get("format", ""),
                "description": column.get("description", ""),
                "priority": column.get("priority", 0),
            }
        )
    if builtin is not None:
        columns.extend(builtin[0])
    rows = []
    for obj in objects:
        cells = builtin[1](obj) if builtin is not None else [_cell(obj, c) for c in custom]
        row: dict[str, Any] = {"cells": [obj["metadata"]["name"], *cells]}
        if include_object:
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": rows,
    }


def now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
