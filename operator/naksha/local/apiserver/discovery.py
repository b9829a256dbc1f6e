"""Discovery and OpenAPI documents: what kubectl, kopf and client libraries ask before anything else."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from naksha.local.apiserver.resources import ALL_VERBS, Catalog, ResourceDef

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-naksha-local",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_SUB_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "log": ["get"],
    "token": ["create"],
}


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(catalog: Catalog) -> dict[str, Any]:
    groups = [_group(name, versions) for name, versions in sorted(catalog.group_versions().items())]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(catalog: Catalog, name: str) -> dict[str, Any] | None:
    versions = catalog.group_versions().get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(catalog: Catalog, group: str, version: str) -> dict[str, Any] | None:
    resources = catalog.in_group_version(group, version)
    if not resources:
        return None
    entries: list[dict[str, Any]] = []
    for resource in sorted(resources, key=lambda r: r.plural):
        entry: dict[str, Any] = {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(resource.extra.get("verbs", ALL_VERBS)),
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = list(resource.categories)
        entries.append(entry)
        for sub in resource.subresources:
            kind = "Scale" if sub == "scale" else resource.kind
            sub_entry = {
                "name": f"{resource.plural}/{sub}",
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": kind,
                "verbs": _SUB_VERBS.get(sub, ["get"]),
            }
            if sub == "scale":
                sub_entry.update({"group": "autoscaling", "version": "v1"})
            entries.append(sub_entry)
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }


def openid_configuration(issuer: str) -> dict[str, Any]:
    """The service-account issuer's OIDC discovery document (``/.well-known/openid-configuration``)."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/openid/v1/jwks",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


def _schema_name(resource: ResourceDef) -> str:
    group = ".".join(reversed(resource.group.split("."))) if resource.group else "io.k8s.api.core"
    return f"{group}.{resource.version}.{resource.kind}"


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_root(catalog: Catalog) -> dict[str, Any]:
    paths = {}
    seen = {(r.group, r.version) for r in catalog}
    for group, version in sorted(seen):
        document = openapi_document(catalog, group, version)
        digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32].upper()
        path = _gv_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def openapi_document(catalog: Catalog, group: str, version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for resource in catalog.in_group_version(group, version):
        schema: dict[str, Any]
        if resource.schema:
            schema = json.loads(json.dumps(resource.schema))
            properties = schema.setdefault("properties", {})
            properties["apiVersion"] = {"type": "string"}
            properties["kind"] = {"type": "string"}
            properties["metadata"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        else:
            schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        schema["x-kubernetes-group-version-kind"] = [
            {"group": resource.group, "version": resource.version, "kind": resource.kind}
        ]
        schemas[_schema_name(resource)] = schema
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (naksha local control plane)", "version": "v1.32.0"},
        "paths": _paths(catalog, group, version),
        "components": {"schemas": schemas},
    }


def _paths(catalog: Catalog, group: str, version: str) -> dict[str, Any]:
    """Operations per resource; their ``fieldValidation`` parameter tells kubectl to validate server-side."""
    validation = [
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    ]
    paths: dict[str, Any] = {}
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    for resource in catalog.in_group_version(group, version):
        gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
        scope = (
            f"{prefix}/namespaces/{{namespace}}/{resource.plural}"
            if resource.namespaced
            else (f"{prefix}/{resource.plural}")
        )

        def operation(action: str, *, params: bool = False, g: dict[str, str] = gvk) -> dict[str, Any]:
            op: dict[str, Any] = {"x-kubernetes-action": action, "x-kubernetes-group-version-kind": g}
            if params:
                op["parameters"] = validation
            return op

        paths[scope] = {"get": operation("list"), "post": operation("post", params=True)}
        paths[f"{scope}/{{name}}"] = {
            "get": operation("get"),
            "put": operation("put", params=True),
            "patch": operation("patch", params=True),
            "delete": operation("delete"),
        }
    return paths
