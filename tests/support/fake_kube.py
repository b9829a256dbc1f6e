"""An in-memory Kubernetes API implementing ``naksha.kube.KubeApi``, for fast tests of decisions.

Only what the controllers' decisions depend on is modelled: objects by (plural, namespace, name),
``resourceVersion`` (a patch naming an older one is a 409, as on a real server), ``generation``
bumped by spec changes, the status subresource (a status patch changes nothing else, a normal
patch never changes status), label selectors of the ``k=v,k2=v2`` form, ``generateName``, merge
patches (RFC 7386), JSON patches (add, replace, remove, test), and server-side apply
approximated as a merge of the applied fields. Every write is logged in ``writes`` as (verb,
plural, name, subresource), so a test can count a pass's requests. Controllers are also tested
on the local control plane; this fake is for the many small cases of their decisions.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from naksha.kube import Conflict, KubeError, NotFound, ResourceRef, resource_for

Key = tuple[str, str, str]


class FakeKube:
    def __init__(self, *objects: Mapping[str, Any]) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.writes: list[tuple[str, str, str, str]] = []
        self._versions = itertools.count(1)
        for obj in objects:
            self.create(obj)
        self.writes.clear()  # the starting objects are not the test's writes

    # --- reads -----------------------------------------------------------------------------

    def get(self, ref: ResourceRef, namespace: str | None, name: str) -> dict[str, Any]:
        return copy.deepcopy(self._stored(ref, namespace, name))

    def list(
        self, ref: ResourceRef, namespace: str | None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        wanted = dict(part.split("=", 1) for part in (label_selector or "").split(",") if part)
        found = []
        for (plural, where, _), obj in sorted(self.objects.items()):
            labels = obj["metadata"].get("labels") or {}
            in_scope = plural == ref.plural and (namespace is None or where == namespace)
            if in_scope and all(labels.get(k) == v for k, v in wanted.items()):
                found.append(copy.deepcopy(obj))
        return found

    # --- writes ----------------------------------------------------------------------------

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        if "name" not in meta and "generateName" in meta:
            meta["name"] = f"{meta.pop('generateName')}{next(self._versions):05d}"
        key = self._key_of(obj)
        if key in self.objects:
            raise Conflict(409, "AlreadyExists", f"{key[0]} {key[1]}/{key[2]} already exists")
        meta.setdefault("uid", f"uid-{key[2]}")
        meta["generation"] = 1
        meta["resourceVersion"] = str(next(self._versions))
        self.objects[key] = obj
        self.writes.append(("create", key[0], key[2], ""))
        return copy.deepcopy(obj)

    def apply(self, body: Mapping[str, Any], *, field_manager: str = "naksha") -> dict[str, Any]:
        key = self._key_of(body)
        if key not in self.objects:
            created = self.create(body)
            self.writes[-1] = ("apply", key[0], key[2], "")
            return created
        current = self.objects[key]
        applied = {k: v for k, v in body.items() if k != "status"}
        self._store(key, current, _merged(current, applied, drop_nulls=False))
        self.writes.append(("apply", key[0], key[2], ""))
        return copy.deepcopy(self.objects[key])

    def merge_patch(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        *,
        status: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        current = self._stored(ref, namespace, name)
        expected = (patch.get("metadata") or {}).get("resourceVersion")
        if expected is not None and expected != current["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", f"{ref.plural} {namespace}/{name} changed since it was read")
        if status:
            changes = {"status": patch.get("status") or {}}
        else:
            changes = {k: v for k, v in patch.items() if k != "status"}
            changes["metadata"] = {
                k: v for k, v in (patch.get("metadata") or {}).items() if k != "resourceVersion"
            }
        result = _merged(current, changes, drop_nulls=True)
        if dry_run:
            return copy.deepcopy(result)
        self._store((ref.plural, namespace or "", name), current, result)
        self.writes.append(("patch", ref.plural, name, "status" if status else ""))
        return copy.deepcopy(result)

    def json_patch(
        self, ref: ResourceRef, namespace: str | None, name: str, operations: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        current = self._stored(ref, namespace, name)
        result = copy.deepcopy(current)
        for operation in operations:
            result = _apply_operation(result, operation)
        self._store((ref.plural, namespace or "", name), current, result)
        self.writes.append(("json-patch", ref.plural, name, ""))
        return copy.deepcopy(result)

    def delete(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        *,
        dry_run: bool = False,
        grace_period_seconds: int | None = None,
    ) -> None:
        key = (ref.plural, namespace or "", name)
        if key in self.objects and not dry_run:
            del self.objects[key]
            self.writes.append(("delete", ref.plural, name, ""))

    # --- helpers for tests -----------------------------------------------------------------

    def status_writes(self, plural: str, name: str) -> int:
        return sum(1 for verb, p, n, sub in self.writes if (p, n, sub) == (plural, name, "status"))

    def _stored(self, ref: ResourceRef, namespace: str | None, name: str) -> dict[str, Any]:
        try:
            return self.objects[(ref.plural, namespace or "", name)]
        except KeyError:
            raise NotFound(404, "NotFound", f"{ref.plural} {namespace}/{name} not found") from None

    def _store(self, key: Key, before: Mapping[str, Any], after: dict[str, Any]) -> None:
        if before.get("spec") != after.get("spec"):
            after["metadata"]["generation"] = int(before["metadata"].get("generation") or 1) + 1
        after["metadata"]["resourceVersion"] = str(next(self._versions))
        self.objects[key] = after

    def _key_of(self, body: Mapping[str, Any]) -> Key:
        ref = resource_for(str(body.get("apiVersion", "")), str(body.get("kind", "")))
        meta = body.get("metadata") or {}
        return (ref.plural, str(meta.get("namespace") or ""), str(meta["name"]))


def _merged(target: Any, patch: Any, *, drop_nulls: bool) -> Any:
    """RFC 7386: objects merge key by key, ``null`` removes (when ``drop_nulls``), the rest replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None and drop_nulls:
            result.pop(key, None)
        else:
            result[key] = _merged(result.get(key), value, drop_nulls=drop_nulls)
    return result


def _apply_operation(document: dict[str, Any], operation: Mapping[str, Any]) -> dict[str, Any]:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in str(operation["path"]).split("/")[1:]]
    parent: Any = document
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent.get(part)
        if parent is None:
            raise KubeError(422, "Invalid", f"no {operation['path']}")
    last = parts[-1]
    op = operation["op"]
    if op == "test":
        if not isinstance(parent, Mapping) or parent.get(last) != operation.get("value"):
            raise KubeError(422, "Invalid", f"test of {operation['path']} failed")
    elif op in ("add", "replace"):
        if op == "replace" and last not in parent:
            raise KubeError(422, "Invalid", f"no {operation['path']} to replace")
        parent[last] = copy.deepcopy(operation["value"])
    elif op == "remove":
        if last not in parent:
            raise KubeError(422, "Invalid", f"no {operation['path']} to remove")
        del parent[last]
    else:
        raise KubeError(422, "Invalid", f"operation {op} is not supported here")
    return document
