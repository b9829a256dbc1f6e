"""Parsing of API request paths and parameters into what the emulator must do."""

from __future__ import annotations

from dataclasses import dataclass

from naksha.local.apiserver import errors
from naksha.local.apiserver.resources import Catalog, ResourceDef

_NAMESPACE_SUBRESOURCES = {"status", "finalize"}


@dataclass(frozen=True)
class Target:
    """The resource, namespace, name and subresource a request addresses."""

    resource: ResourceDef
    namespace: str  # "" for cluster-scoped resources or cluster-wide collections
    name: str | None
    subresource: str | None


def parse_target(catalog: Catalog, group: str, version: str, segments: list[str]) -> Target | None:
    """The target of ``/api/v1/<segments>`` or ``/apis/<g>/<v>/<segments>``; None for discovery."""
    if not segments:
        return None
    namespace = ""
    if segments[0] == "namespaces" and len(segments) >= 3 and segments[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, segments = segments[1], segments[2:]
    plural, rest = segments[0], segments[1:]
    resource = catalog.get(group, version, plural)
    if resource is None:
        gv = f"{group}/{version}" if group else version
        raise errors.ApiError(
            404, "NotFound", f"the server could not find the requested resource ({plural} in {gv})"
        )
    if namespace and not resource.namespaced:
        raise errors.ApiError(404, "NotFound", f"{plural} is not a namespaced resource")
    if len(rest) > 2:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[0] if rest else None
    subresource = rest[1] if len(rest) > 1 else None
    if subresource is not None and subresource not in resource.subresources:
        raise errors.ApiError(404, "NotFound", f"{plural}/{subresource} is not served")
    if name is not None and resource.namespaced and not namespace:
        raise errors.ApiError(404, "NotFound", f"{plural} is namespaced: the URL needs a namespace")
    return Target(resource, namespace, name, subresource)


def is_protobuf(content_type: str) -> bool:
    return "protobuf" in content_type


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")
