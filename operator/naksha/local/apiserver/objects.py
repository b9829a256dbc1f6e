"""Object semantics of the API: create, replace, patch, delete, status, scale, finalizers, GC, CRDs.

``ObjectService`` works on plain dicts over the ``Store`` and the resource ``Catalog``; the
HTTP layer (``naksha.local.apiserver.server``) only parses requests and renders answers.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

from naksha.local.apiserver import errors, patching, schema
from naksha.local.apiserver.encoding import clone
from naksha.local.apiserver.resources import Catalog, ResourceDef, crd_resources
from naksha.local.apiserver.store import Store
from naksha.local.apiserver.tables import now

CRD_KEY = "apiextensions.k8s.io/v1/customresourcedefinitions"
NAMESPACES_KEY = "/v1/namespaces"
PODS_KEY = "/v1/pods"
DEPLOYMENTS_KEY = "apps/v1/deployments"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
Patcher = Callable[[dict[str, Any]], dict[str, Any]]


class ObjectService:
    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog
        # What each field manager last applied to an object (server-side apply), with its uid.
        self._applied: dict[tuple[str, str, str], dict[str, tuple[str, Any]]] = {}
        for name in SYSTEM_NAMESPACES:
            self._store_new(
                self._namespaces, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            )
        self._store_new(
            self.catalog.get("", "v1", "nodes") or self._namespaces,
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "local-node", "labels": {"kubernetes.io/hostname": "local-node"}},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                },
            },
        )

    @property
    def _namespaces(self) -> ResourceDef:
        resource = self.catalog.get("", "v1", "namespaces")
        assert resource is not None
        return resource

    # --- reads -----------------------------------------------------------------------------------

    def get(self, resource: ResourceDef, namespace: str, name: str) -> dict[str, Any]:
        obj = self.store.get(resource.key, namespace if resource.namespaced else "", name)
        if obj is None:
            raise errors.not_found(resource.plural, resource.group, name)
        return obj

    # --- writes ----------------------------------------------------------------------------------

    def create(
        self, resource: ResourceDef, namespace: str, body: Any, *, dry_run: bool = False, strict: bool = False
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        if resource.is_custom and not body.get("kind"):
            # Built-in kinds are decoded by their URL; custom objects must name their kind.
            raise errors.bad_request(
                f"the object provided is unrecognized (must be of type {resource.kind}): "
                "Object 'Kind' is missing"
            )
        obj = clone(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if resource.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            namespace = namespace or meta.get("namespace") or ""
            if not namespace:
                raise errors.bad_request("the namespace of the object is missing")
            self._require_namespace(namespace)
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
            namespace = ""
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.invalid(
                    resource.kind,
                    resource.group,
                    "",
                    ["metadata.name: Required value: name or generateName is required"],
                )
            meta["name"] = self._generate_name(resource, namespace, meta["generateName"])
        name = meta["name"]
        if self.store.get(resource.key, namespace, name) is not None:
            raise errors.already_exists(resource.plural, resource.group, name)
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": now(), "generation": 1})
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        if resource.has_status:
            # As the API server: with a status subresource, only /status writes the status; a
            # create starts from none (a Pod from Pending).
            obj.pop("status", None)
            if resource.key == PODS_KEY:
                obj["status"] = {"phase": "Pending"}
        obj = self._admit(resource, obj, None, strict=strict)
        if dry_run:
            return obj
        return self._store_new(resource, obj)

    def replace(
        self,
        resource: ResourceDef,
        namespace: str,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        current = self.get(resource, namespace, name)
        wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(resource.plural, resource.group, name)
        return self._update(
            resource,
            current,
            lambda _: clone(body),
            subresource=subresource,
            dry_run=dry_run,
            strict=strict,
        )

    def patch(
        self,
        resource: ResourceDef,
        namespace: str,
        name: str,
        patcher: Patcher,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> dict[str, Any]:
        current = self.get(resource, namespace, name)
        return self._update(
            resource, current, patcher, subresource=subresource, dry_run=dry_run, strict=strict
        )

    def apply(
        self,
        resource: ResourceDef,
        namespace: str,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
        manager: str = "",
    ) -> tuple[dict[str, Any], bool]:
        """Server-side apply as merge-or-create; returns the object and whether it was created.

        Ownership is kept per field manager for what it applied itself: a field it applied
        before and leaves out now is removed, as the API server does. Fields set by other
        writers are not tracked (no managedFields), so conflicts are never reported.
        """
        if not isinstance(body, dict):
            raise errors.bad_request("the applied configuration must be an object")
        if not manager:
            raise errors.bad_request("PATCH, application/apply-patch+yaml: fieldManager is required")
        namespace = namespace if resource.namespaced else ""
        existing = self.store.get(resource.key, namespace, name)
        if existing is None:
            body = {**body, "metadata": {**(body.get("metadata") or {}), "name": name}}
            created = self.create(resource, namespace, body, dry_run=dry_run, strict=strict)
            if not dry_run:
                self._applied.setdefault((resource.key, namespace, name), {})[manager] = (
                    created["metadata"]["uid"],
                    clone(body),
                )
            return created, True
        uid, previous = self._applied.get((resource.key, namespace, name), {}).get(manager, ("", None))
        given_up = patching.fields_given_up(previous, body) if uid == existing["metadata"]["uid"] else []
        merge = (
            patching.apply_strategic_merge_patch
            if patching.strategic_merge_supported(resource.api_version, resource.kind)
            else (lambda t, p, *_: patching.apply_merge_patch(t, p))
        )
        applied = self.patch(
            resource,
            namespace,
            name,
            lambda current: merge(
                patching.without_fields(current, given_up), body, resource.api_version, resource.kind
            ),
            subresource=subresource,
            dry_run=dry_run,
            strict=strict,
        )
        if not dry_run:
            self._applied.setdefault((resource.key, namespace, name), {})[manager] = (
                applied["metadata"]["uid"],
                clone(body),
            )
        return applied, False

    def delete(
        self,
        resource: ResourceDef,
        namespace: str,
        name: str,
        *,
        propagation: str = "Background",
        dry_run: bool = False,
        preconditions: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Delete (or mark for deletion); returns the object and whether it is gone."""
        current = self.get(resource, namespace, name)
        if (
            preconditions
            and preconditions.get("uid")
            and preconditions["uid"] != current["metadata"].get("uid")
        ):
            raise errors.conflict(resource.plural, resource.group, name)
        if dry_run:
            return current, False
        meta = current["metadata"]
        if resource.key == NAMESPACES_KEY:
            return self._delete_namespace(resource, current), True
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                marked = clone(current)
                marked["metadata"]["deletionTimestamp"] = now()
                marked["metadata"]["deletionGracePeriodSeconds"] = 0
                if propagation == "Orphan":
                    marked["metadata"]["finalizers"] = [*meta["finalizers"], "orphan"]
                current = self.store.put(resource.key, marked, "MODIFIED")
            return current, False
        return self._remove(resource, current, orphan=propagation == "Orphan"), True

    # --- internals ---------------------------------------------------------------------------------

    def _update(
        self,
        resource: ResourceDef,
        current: dict[str, Any],
        patcher: Patcher,
        *,
        subresource: str | None,
        dry_run: bool,
        strict: bool = False,
    ) -> dict[str, Any]:
        try:
            proposed = patcher(clone(current))
        except patching.JsonPatchTestFailed as error:
            raise errors.ApiError(422, "Invalid", str(error)) from error
        except patching.PatchError as error:
            raise errors.ApiError(422, "Invalid", f"the patch cannot be applied: {error}") from error
        if not isinstance(proposed, dict):
            raise errors.bad_request("the result of the update is not an object")
        wanted_rv = (proposed.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(resource.plural, resource.group, current["metadata"]["name"])
        obj = self._merge_protected(resource, current, proposed, subresource)
        obj = self._admit(resource, obj, current, strict=strict)
        if dry_run:
            return obj
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(resource, obj, orphan=False)
        if obj == current:
            return current
        stored = self.store.put(resource.key, obj, "MODIFIED")
        if resource.key == CRD_KEY:
            self._serve_crd(stored)
        return stored

    def _merge_protected(
        self,
        resource: ResourceDef,
        current: dict[str, Any],
        proposed: dict[str, Any],
        subresource: str | None,
    ) -> dict[str, Any]:
        """Apply the rules of the API on what a write may change (identity, status vs spec, generation)."""
        obj = clone(proposed)
        meta = obj.setdefault("metadata", {})
        old_meta = current["metadata"]
        for field in (
            "uid",
            "creationTimestamp",
            "name",
            "namespace",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        if subresource == "status":
            # Writes through /status change the status only.
            result = clone(current)
            if "status" in obj:
                result["status"] = obj["status"]
            else:
                result.pop("status", None)
            return result
        if resource.has_status:
            # Writes to the main resource never change the status when /status exists.
            if "status" in current:
                obj["status"] = clone(current["status"])
            else:
                obj.pop("status", None)
        # As kube-apiserver: a Deployment's annotations bump its generation too (they are copied
        # to its ReplicaSets).
        annotations_count = resource.key == DEPLOYMENTS_KEY and meta.get("annotations") != old_meta.get(
            "annotations"
        )
        if _spec_of(obj) != _spec_of(current) or annotations_count:
            meta["generation"] = int(old_meta.get("generation") or 1) + 1
        return obj

    def _admit(
        self,
        resource: ResourceDef,
        obj: dict[str, Any],
        current: dict[str, Any] | None,
        *,
        strict: bool = False,
    ) -> dict[str, Any]:
        if resource.schema and strict:
            unknown = schema.unknown_fields(resource.schema, obj)
            if unknown:
                raise errors.bad_request(
                    f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                    f"{resource.kind}: strict decoding error: "
                    + ", ".join(f'unknown field "{field}"' for field in unknown)
                )
        if resource.schema:
            obj = schema.prune(resource.schema, schema.apply_defaults(resource.schema, obj))
            problems = schema.validate(resource.schema, {k: v for k, v in obj.items() if k != "metadata"})
            if problems:
                raise errors.invalid(resource.kind, resource.group, obj["metadata"].get("name", ""), problems)
        if resource.key == CRD_KEY:
            self._check_crd(obj)
        return obj

    def _store_new(self, resource: ResourceDef, obj: dict[str, Any]) -> dict[str, Any]:
        if resource.key == NAMESPACES_KEY:
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
        meta = obj["metadata"]
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now())
        meta.setdefault("generation", 1)
        stored = self.store.put(resource.key, obj, "ADDED")
        if resource.key == CRD_KEY:
            self._serve_crd(stored)
        return stored

    def _require_namespace(self, namespace: str) -> None:
        found = self.store.get(NAMESPACES_KEY, "", namespace)
        if found is None:
            raise errors.ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                details={"name": namespace, "kind": "namespaces"},
            )
        if found["metadata"].get("deletionTimestamp"):
            raise errors.ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )

    def _generate_name(self, resource: ResourceDef, namespace: str, prefix: str) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        while True:
            name = prefix + "".join(random.choices(alphabet, k=5))
            if self.store.get(resource.key, namespace, name) is None:
                return name

    def _remove(self, resource: ResourceDef, obj: dict[str, Any], *, orphan: bool) -> dict[str, Any]:
        meta = obj["metadata"]
        gone = self.store.remove(resource.key, meta.get("namespace") or "", meta["name"]) or obj
        self._applied.pop((resource.key, meta.get("namespace") or "", meta["name"]), None)
        if resource.key == CRD_KEY:
            self._unserve_crd(gone)
        self._collect_dependents(meta.get("uid", ""), orphan=orphan)
        return gone

    def _collect_dependents(self, uid: str, *, orphan: bool) -> None:
        """Garbage collection: dependents whose every owner is gone are deleted (or orphaned)."""
        for key, namespace, name in self.store.dependents_of(uid):
            resource = self.catalog.by_key(key)
            dependent = self.store.get(key, namespace, name)
            if resource is None or dependent is None:
                continue
            owners = [
                ref for ref in dependent["metadata"].get("ownerReferences") or [] if ref.get("uid") != uid
            ]
            alive = [ref for ref in owners if self._owner_exists(ref, namespace)]
            if orphan or alive:
                self.patch(resource, namespace, name, _owners_setter(owners))
            else:
                self.delete(resource, namespace, name)

    def _owner_exists(self, ref: dict[str, Any], namespace: str) -> bool:
        for resource in self.catalog:
            if resource.kind == ref.get("kind") and resource.api_version == ref.get("apiVersion"):
                found = self.store.get(
                    resource.key, namespace if resource.namespaced else "", ref.get("name", "")
                )
                return found is not None and found["metadata"].get("uid") == ref.get("uid")
        return False

    def _delete_namespace(self, resource: ResourceDef, namespace_obj: dict[str, Any]) -> dict[str, Any]:
        name = namespace_obj["metadata"]["name"]
        for member in list(self.catalog):
            if member.namespaced:
                for obj in list(self.store.items(member.key, name)):
                    self.store.remove(member.key, name, obj["metadata"]["name"])
        return self.store.remove(resource.key, "", name) or namespace_obj

    def _check_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        problems = []
        names = spec.get("names") or {}
        for field in ("group",):
            if not spec.get(field):
                problems.append(f"spec.{field}: Required value")
        for field in ("plural", "kind"):
            if not names.get(field):
                problems.append(f"spec.names.{field}: Required value")
        if (
            names.get("plural")
            and spec.get("group")
            and crd["metadata"].get("name") != f"{names['plural']}.{spec['group']}"
        ):
            problems.append(
                f'metadata.name: Invalid value: "{crd["metadata"].get("name")}": '
                'must be spec.names.plural+"."+spec.group'
            )
        for version in spec.get("versions") or []:
            open_api = (version.get("schema") or {}).get("openAPIV3Schema")
            if open_api is not None:
                problems += [
                    f"spec.versions[{version.get('name')}].schema.openAPIV3Schema.{p}"
                    for p in schema.check_structural(open_api)
                ]
        if not spec.get("versions"):
            problems.append(
                "spec.versions: Invalid value: null: must have exactly one version marked as storage version"
            )
        if problems:
            raise errors.invalid(
                "CustomResourceDefinition", "apiextensions.k8s.io", crd["metadata"].get("name", ""), problems
            )

    def _serve_crd(self, crd: dict[str, Any]) -> None:
        for old in [r for r in self.catalog if r.crd_name == crd["metadata"]["name"]]:
            self.catalog.remove(old.key)
        for resource in crd_resources(crd):
            self.catalog.add(resource)
        names = crd["spec"]["names"]
        status = {
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": now(),
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": now(),
                },
            ],
            "acceptedNames": {
                k: names[k]
                for k in ("plural", "singular", "kind", "listKind", "shortNames", "categories")
                if k in names
            },
            "storedVersions": [v["name"] for v in crd["spec"].get("versions") or [] if v.get("storage")],
        }
        if (crd.get("status") or {}).get("conditions") and [
            c["type"] for c in crd["status"]["conditions"]
        ] == ["NamesAccepted", "Established"]:
            return
        established = clone(crd)
        established["status"] = status
        self.store.put(CRD_KEY, established, "MODIFIED")

    def _unserve_crd(self, crd: dict[str, Any]) -> None:
        for resource in [r for r in self.catalog if r.crd_name == crd["metadata"]["name"]]:
            for obj in list(self.store.items(resource.key)):
                self.store.remove(
                    resource.key, obj["metadata"].get("namespace") or "", obj["metadata"]["name"]
                )
            self.catalog.remove(resource.key)


def _spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _owners_setter(owners: list[dict[str, Any]]) -> Patcher:
    def set_owners(obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"]["ownerReferences"] = owners
        if not owners:
            del obj["metadata"]["ownerReferences"]
        return obj

    return set_owners
