"""Patch semantics of the Kubernetes API: JSON merge patch, JSON patch, strategic merge patch.

Pure functions; inputs are never mutated. Strategic merge knows the merge keys of the built-in
kinds the project uses (containers by name, conditions by type, …); custom resources do not
support it, exactly as on a real API server.
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """The patch is malformed or cannot apply (answered 422 or 400)."""


class JsonPatchTestFailed(PatchError):
    """A ``test`` operation did not hold (answered 422)."""


MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "tolerations": "key",
    "hostAliases": "ip",
    "ports": "containerPort",
}
SET_LISTS = {"finalizers"}
_BUILTIN_GROUPS = {
    "",
    "v1",
    "apps",
    "batch",
    "policy",
    "coordination.k8s.io",
    "rbac.authorization.k8s.io",
    "events.k8s.io",
    "networking.k8s.io",
    "autoscaling",
}


def strategic_merge_supported(api_version: str, kind: str) -> bool:
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    return group in _BUILTIN_GROUPS


def apply_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def apply_strategic_merge_patch(target: Any, patch: Any, api_version: str = "v1", kind: str = "") -> Any:
    return _smp(target, patch, kind=kind, field_name="")


def _smp(target: Any, patch: Any, *, kind: str, field_name: str) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [item for item in result.get(name) or [] if item not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, key, kind)
        else:
            merged = _smp(result.get(key), value, kind=kind, field_name=key)
            if merged is None and isinstance(value, dict) and value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = merged
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(current: list[Any], patch: list[Any], field_name: str, kind: str) -> list[Any]:
    if field_name in SET_LISTS:
        merged = list(current)
        merged.extend(item for item in patch if item not in merged)
        return merged
    merge_key = "port" if field_name == "ports" and kind == "Service" else MERGE_KEYS.get(field_name)
    if merge_key is None or not all(isinstance(item, dict) for item in patch):
        if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
            return [i for i in patch if not (isinstance(i, dict) and i.get("$patch"))]
        return copy.deepcopy(patch)
    result = [copy.deepcopy(item) for item in current]
    for item in patch:
        if item.get("$patch") == "replace":
            return [copy.deepcopy(i) for i in patch if i.get("$patch") != "replace"]
        position = next(
            (
                i
                for i, existing in enumerate(result)
                if isinstance(existing, dict) and existing.get(merge_key) == item.get(merge_key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if position is not None:
                del result[position]
        elif position is None:
            result.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            result[position] = _smp(result[position], item, kind=kind, field_name=field_name)
    return result


def apply_json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("json patch must be a list of operations")
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError(f"invalid json patch operation: {operation!r}")
        op, path = operation["op"], _pointer(operation["path"])
        if op == "test":
            actual = _resolve(document, path)
            if actual != operation.get("value"):
                raise JsonPatchTestFailed(
                    f"testing value {operation['path']} failed: "
                    f"expected {operation.get('value')!r}, got {actual!r}"
                )
        elif op == "add":
            document = _add(document, path, copy.deepcopy(operation.get("value")))
        elif op == "remove":
            document = _remove(document, path)[0]
        elif op == "replace":
            _resolve(document, path)
            document = _add(_remove(document, path)[0], path, copy.deepcopy(operation.get("value")))
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            value = copy.deepcopy(_resolve(document, source))
            if op == "move":
                document = _remove(document, source)[0]
            document = _add(document, path, value)
        else:
            raise PatchError(f"unknown json patch operation {op!r}")
    return document


def _pointer(text: Any) -> list[str]:
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise PatchError(f"invalid JSON pointer {text!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in text.split("/")[1:]] if text else []


def _resolve(document: Any, path: list[str]) -> Any:
    node = document
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"path /{'/'.join(path)} does not exist")
    return node


def _add(document: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _resolve(document, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = len(parent) if last == "-" else int(last) if last.isdigit() else -1
        if not 0 <= index <= len(parent):
            raise PatchError(f"index {last} out of range")
        parent.insert(index, value)
    else:
        raise PatchError(f"cannot add at /{'/'.join(path)}")
    return document


def _remove(document: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        raise PatchError("cannot remove the whole document")
    parent = _resolve(document, path[:-1])
    last = path[-1]
    if isinstance(parent, dict) and last in parent:
        return document, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return document, parent.pop(int(last))
    raise PatchError(f"path /{'/'.join(path)} does not exist")


def fields_given_up(previous: Any, current: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths a field manager applied before and no longer applies (server-side apply ownership).

    Maps are compared key by key; lists and scalars count as one field, as for atomic lists.
    """
    if not isinstance(previous, dict):
        return []
    if not isinstance(current, dict):
        return [path] if path else []
    gone: list[tuple[str, ...]] = []
    for key, value in previous.items():
        here = (*path, key)
        if key in ("apiVersion", "kind") or here in (("metadata", "name"), ("metadata", "namespace")):
            continue
        if key not in current:
            gone.append(here)
        else:
            gone += fields_given_up(value, current[key], here)
    return gone


def without_fields(obj: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """``obj`` with the fields at ``paths`` removed (missing paths are ignored)."""
    result = copy.deepcopy(obj)
    for path in paths:
        node: Any = result
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return result
