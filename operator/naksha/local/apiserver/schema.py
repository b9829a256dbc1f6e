"""OpenAPI v3 structural-schema semantics of CRDs: defaulting, pruning and validation.

Messages follow the real API server's wording, e.g.
``spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0``.
CEL rules (``x-kubernetes-validations``) are not evaluated.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any


class SchemaError(ValueError):
    """The schema itself cannot be served."""


def check_structural(schema: Mapping[str, Any], path: str = "") -> list[str]:
    problems: list[str] = []
    if "$ref" in schema:
        problems.append(f"{path or 'schema'}: $ref is not allowed")
    if (
        "type" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
        and not schema.get("x-kubernetes-int-or-string")
        and path
    ):
        problems.append(f"{path}.type: Required value: must not be empty for specified object fields")
    for name, child in (schema.get("properties") or {}).items():
        problems += check_structural(child, f"{path}.properties[{name}]" if path else f"properties[{name}]")
    if isinstance(schema.get("items"), Mapping):
        problems += check_structural(schema["items"], f"{path}.items")
    if isinstance(schema.get("additionalProperties"), Mapping):
        problems += check_structural(schema["additionalProperties"], f"{path}.additionalProperties")
    return problems


def apply_defaults(schema: Mapping[str, Any], obj: Any) -> Any:
    if isinstance(obj, dict):
        result = dict(obj)
        for name, child in (schema.get("properties") or {}).items():
            if name not in result and "default" in child:
                result[name] = copy.deepcopy(child["default"])
            if name in result:
                result[name] = apply_defaults(child, result[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            known = schema.get("properties") or {}
            for name in result:
                if name not in known:
                    result[name] = apply_defaults(extra, result[name])
        return result
    if isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        return [apply_defaults(schema["items"], item) for item in obj]
    return obj


def prune(schema: Mapping[str, Any], obj: Any, *, root: bool = True) -> Any:
    if isinstance(obj, dict):
        if schema.get("x-kubernetes-embedded-resource") or root:
            keep = {"apiVersion", "kind", "metadata"}
        else:
            keep = set()
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        result = {}
        for name, value in obj.items():
            if root and name in ("metadata", "apiVersion", "kind"):
                result[name] = value  # object metadata is the server's, never pruned by a CRD schema
            elif name in properties:
                result[name] = prune(properties[name], value, root=False)
            elif name in keep:
                result[name] = value
            elif isinstance(extra, Mapping):
                result[name] = prune(extra, value, root=False)
            elif extra is True or preserve:
                result[name] = value
        return result
    if isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        return [prune(schema["items"], item, root=False) for item in obj]
    return obj


def unknown_fields(schema: Mapping[str, Any], obj: Any, path: str = "", *, root: bool = True) -> list[str]:
    """Paths of fields that pruning would drop (reported under ``fieldValidation=Strict``)."""
    found: list[str] = []
    if isinstance(obj, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
            return []
        keep = (
            {"apiVersion", "kind", "metadata"}
            if root or schema.get("x-kubernetes-embedded-resource")
            else set()
        )
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for name, value in obj.items():
            child = f"{path}.{name}" if path else name
            if root and name in ("metadata", "apiVersion", "kind"):
                continue
            if name in properties:
                found += unknown_fields(properties[name], value, child, root=False)
            elif isinstance(extra, Mapping):
                found += unknown_fields(extra, value, child, root=False)
            elif (
                name not in keep
                and extra is not True
                and not schema.get("x-kubernetes-preserve-unknown-fields")
            ):
                found.append(child)
    elif isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(obj):
            found += unknown_fields(schema["items"], item, f"{path}[{index}]", root=False)
    return found


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, default=str)


def validate(schema: Mapping[str, Any], obj: Any, *, path: str = "") -> list[str]:
    here = path or "<root>"
    errors: list[str] = []
    if obj is None:
        if schema.get("nullable"):
            return []
        if "type" in schema:
            return [f'{here}: Invalid value: "null": {here} in body must be of type {schema["type"]}: "null"']
        return []
    if schema.get("x-kubernetes-int-or-string"):
        if not (_TYPES["integer"](obj) or isinstance(obj, str)):
            errors.append(
                f"{here}: Invalid value: {_show(obj)}: {here} in body must be of type integer or string"
            )
    elif "type" in schema and not _TYPES.get(schema["type"], lambda v: True)(obj):
        actual = _type_name(obj)
        return [
            f'{here}: Invalid value: "{actual}": {here} in body must be of type {schema["type"]}: "{actual}"'
        ]
    if "enum" in schema and obj not in schema["enum"]:
        supported = ", ".join(_show(v) for v in schema["enum"])
        errors.append(f"{here}: Unsupported value: {_show(obj)}: supported values: {supported}")
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        errors += _numeric(schema, obj, here)
    if isinstance(obj, str):
        errors += _string(schema, obj, here)
    if isinstance(obj, list):
        errors += _array(schema, obj, here, path)
    if isinstance(obj, dict):
        errors += _object(schema, obj, path)
    for sub in schema.get("allOf") or []:
        errors += validate(sub, obj, path=path)
    if schema.get("anyOf") and all(validate(sub, obj, path=path) for sub in schema["anyOf"]):
        errors.append(f"{here}: Invalid value: {_show(obj)}: must match at least one schema in anyOf")
    if schema.get("oneOf") and sum(1 for sub in schema["oneOf"] if not validate(sub, obj, path=path)) != 1:
        errors.append(f"{here}: Invalid value: {_show(obj)}: must match exactly one schema in oneOf")
    return errors


def _type_name(obj: Any) -> str:
    for name in ("boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](obj):
            return name
    return type(obj).__name__


def _numeric(schema: Mapping[str, Any], obj: float, here: str) -> list[str]:
    errors = []
    if "minimum" in schema:
        if schema.get("exclusiveMinimum") is True and obj <= schema["minimum"]:
            errors.append(
                f"{here}: Invalid value: {obj}: {here} in body should be greater than {schema['minimum']}"
            )
        elif obj < schema["minimum"]:
            errors.append(
                f"{here}: Invalid value: {obj}: {here} in body should be greater than or equal to "
                f"{schema['minimum']}"
            )
    if "maximum" in schema:
        if schema.get("exclusiveMaximum") is True and obj >= schema["maximum"]:
            errors.append(
                f"{here}: Invalid value: {obj}: {here} in body should be less than {schema['maximum']}"
            )
        elif obj > schema["maximum"]:
            errors.append(
                f"{here}: Invalid value: {obj}: {here} in body should be less than or equal to "
                f"{schema['maximum']}"
            )
    for bound, word in (("exclusiveMinimum", "greater than"), ("exclusiveMaximum", "less than")):
        limit = schema.get(bound)
        if not isinstance(limit, (int, float)) or isinstance(limit, bool):
            continue
        if (word == "greater than" and obj <= limit) or (word == "less than" and obj >= limit):
            errors.append(f"{here}: Invalid value: {obj}: {here} in body should be {word} {limit}")
    if schema.get("multipleOf") and obj % schema["multipleOf"]:
        errors.append(
            f"{here}: Invalid value: {obj}: {here} in body should be a multiple of {schema['multipleOf']}"
        )
    return errors


def _string(schema: Mapping[str, Any], obj: str, here: str) -> list[str]:
    errors = []
    if "minLength" in schema and len(obj) < schema["minLength"]:
        errors.append(
            f"{here}: Invalid value: {_show(obj)}: {here} in body should be at least "
            f"{schema['minLength']} chars long"
        )
    if "maxLength" in schema and len(obj) > schema["maxLength"]:
        errors.append(f"{here}: Too long: may not be more than {schema['maxLength']} bytes")
    if "pattern" in schema and not re.search(schema["pattern"], obj):
        errors.append(
            f"{here}: Invalid value: {_show(obj)}: {here} in body should match '{schema['pattern']}'"
        )
    if schema.get("format") == "date-time" and not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", obj):
        errors.append(f"{here}: Invalid value: {_show(obj)}: {here} in body must be of type date-time")
    return errors


def _array(schema: Mapping[str, Any], obj: list[Any], here: str, path: str) -> list[str]:
    errors = []
    if "minItems" in schema and len(obj) < schema["minItems"]:
        errors.append(
            f"{here}: Invalid value: {len(obj)}: {here} in body should have at least "
            f"{schema['minItems']} items"
        )
    if "maxItems" in schema and len(obj) > schema["maxItems"]:
        errors.append(f"{here}: Too many: {len(obj)}: must have at most {schema['maxItems']} items")
    if schema.get("uniqueItems") or schema.get("x-kubernetes-list-type") == "set":
        seen: list[Any] = []
        for item in obj:
            if item in seen:
                errors.append(f"{here}: Duplicate value: {_show(item)}")
            seen.append(item)
    if isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(obj):
            errors += validate(schema["items"], item, path=f"{path}[{index}]")
    return errors


def _object(schema: Mapping[str, Any], obj: Mapping[str, Any], path: str) -> list[str]:
    errors = []
    prefix = f"{path}." if path else ""
    for name in schema.get("required") or []:
        if name not in obj:
            errors.append(f"{prefix}{name}: Required value")
    properties = schema.get("properties") or {}
    for name, value in obj.items():
        if name in properties:
            errors += validate(properties[name], value, path=f"{prefix}{name}")
        elif isinstance(schema.get("additionalProperties"), Mapping):
            errors += validate(schema["additionalProperties"], value, path=f"{prefix}{name}")
    if "maxProperties" in schema and len(obj) > schema["maxProperties"]:
        errors.append(
            f"{path or '<root>'}: Too many: {len(obj)}: must have at most {schema['maxProperties']} items"
        )
    if "minProperties" in schema and len(obj) < schema["minProperties"]:
        errors.append(
            f"{path or '<root>'}: Invalid value: {len(obj)}: "
            f"must have at least {schema['minProperties']} items"
        )
    return errors
