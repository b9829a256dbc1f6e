"""Server-side printing: ``Table`` responses for ``kubectl get``, from CRD printer columns."""

from __future__ import annotations

import datetime
import re
from typing import Any

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
    try:
        then = datetime.datetime.strptime(str(timestamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((datetime.datetime.now(tz=datetime.UTC) - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 120 * 60:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


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
    custom = list(resource.printer_columns)
    if not custom:
        custom = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    for column in custom:
        columns.append(
            {
                "name": column["name"],
                "type": column.get("type", "string"),
                "format": column.get("format", ""),
                "description": column.get("description", ""),
                "priority": column.get("priority", 0),
            }
        )
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [obj["metadata"]["name"], *(_cell(obj, c) for c in custom)]}
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
