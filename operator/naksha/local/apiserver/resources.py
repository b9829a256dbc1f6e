"""The catalog of resources the emulator serves: built-in kinds, and kinds added by applied CRDs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceDef:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    schema: dict[str, Any] | None = None
    printer_columns: tuple[dict[str, Any], ...] = ()
    crd_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        return f"{self.group}/{self.version}/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def is_custom(self) -> bool:
        return self.crd_name is not None


def _core(plural: str, kind: str, **kw: Any) -> ResourceDef:
    return ResourceDef("", "v1", plural, kind, singular=kind.lower(), **kw)


def _gv(group: str, version: str, plural: str, kind: str, **kw: Any) -> ResourceDef:
    return ResourceDef(group, version, plural, kind, singular=kind.lower(), **kw)


ALL = ("all",)
BUILTINS: tuple[ResourceDef, ...] = (
    _core("namespaces", "Namespace", namespaced=False, short_names=("ns",), subresources=("status",)),
    _core("pods", "Pod", short_names=("po",), categories=ALL, subresources=("status", "log", "portforward")),
    _core("services", "Service", short_names=("svc",), categories=ALL, subresources=("status",)),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret"),
    _core("serviceaccounts", "ServiceAccount", short_names=("sa",), subresources=("token",)),
    _core("events", "Event", short_names=("ev",)),
    _core("endpoints", "Endpoints", short_names=("ep",)),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",), subresources=("status",)),
    _core("nodes", "Node", namespaced=False, short_names=("no",), subresources=("status",)),
    _gv(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        categories=ALL,
        subresources=("status", "scale"),
    ),
    _gv(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        short_names=("rs",),
        categories=ALL,
        subresources=("status", "scale"),
    ),
    _gv(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        short_names=("sts",),
        categories=ALL,
        subresources=("status", "scale"),
    ),
    _gv(
        "apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), categories=ALL, subresources=("status",)
    ),
    _gv("batch", "v1", "jobs", "Job", categories=ALL, subresources=("status",)),
    _gv("batch", "v1", "cronjobs", "CronJob", short_names=("cj",), categories=ALL, subresources=("status",)),
    _gv("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    _gv("coordination.k8s.io", "v1", "leases", "Lease"),
    _gv("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _gv("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _gv("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    _gv("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    _gv(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        short_names=("pdb",),
        subresources=("status",),
    ),
    _gv(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        subresources=("status",),
    ),
)


class Catalog:
    """Resources by group/version/plural, with lookups by kind for the discovery documents."""

    def __init__(self) -> None:
        self._by_key: dict[str, ResourceDef] = {}
        for resource in BUILTINS:
            self.add(resource)

    def add(self, resource: ResourceDef) -> None:
        self._by_key[resource.key] = resource

    def remove(self, key: str) -> ResourceDef | None:
        return self._by_key.pop(key, None)

    def get(self, group: str, version: str, plural: str) -> ResourceDef | None:
        return self._by_key.get(f"{group}/{version}/{plural}")

    def by_key(self, key: str) -> ResourceDef | None:
        return self._by_key.get(key)

    def __iter__(self) -> Iterator[ResourceDef]:
        return iter(list(self._by_key.values()))

    def group_versions(self) -> dict[str, list[str]]:
        """Groups (without the core group) and their versions, preferred (first) version first."""
        groups: dict[str, list[str]] = {}
        for resource in self:
            if resource.group:
                versions = groups.setdefault(resource.group, [])
                if resource.version not in versions:
                    versions.append(resource.version)
        return groups

    def in_group_version(self, group: str, version: str) -> list[ResourceDef]:
        return [r for r in self if r.group == group and r.version == version]


def crd_resources(crd: dict[str, Any]) -> list[ResourceDef]:
    """The served versions of a CustomResourceDefinition as resources."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    result = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or None
        result.append(
            ResourceDef(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=tuple((version.get("subresources") or {}).keys()),
                schema=schema,
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                crd_name=crd["metadata"]["name"],
            )
        )
    return result
