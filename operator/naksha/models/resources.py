"""The kinds Naksha reads or writes (apiVersion, kind, plural), and how their API paths are built."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import KINDS


@dataclass(frozen=True)
class ResourceRef:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(self.plural)
        if name:
            parts.append(quote(name, safe=""))
        if subresource:
            parts.append(subresource)
        return "/".join(parts)


_BUILTIN = (
    ResourceRef("", "v1", "pods", "Pod"),
    ResourceRef("", "v1", "services", "Service"),
    ResourceRef("", "v1", "configmaps", "ConfigMap"),
    ResourceRef("", "v1", "secrets", "Secret"),
    ResourceRef("", "v1", "events", "Event"),
    ResourceRef("", "v1", "serviceaccounts", "ServiceAccount"),
    ResourceRef("", "v1", "namespaces", "Namespace", namespaced=False),
    ResourceRef("apps", "v1", "deployments", "Deployment"),
    ResourceRef("batch", "v1", "jobs", "Job"),
    ResourceRef("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ResourceRef("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    ResourceRef(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
    ),
    # Reviews: created, never stored; how the HTTP endpoints ask the cluster who calls and what they may do.
    ResourceRef("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", namespaced=False),
    ResourceRef(
        "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", namespaced=False
    ),
)
_BY_KEY: dict[tuple[str, str], ResourceRef] = {(r.api_version, r.kind): r for r in _BUILTIN}
for _info in KINDS:
    _ref = ResourceRef(GROUP, VERSION, _info.plural, _info.kind)
    _BY_KEY[(_ref.api_version, _ref.kind)] = _ref


_BY_KIND: dict[str, ResourceRef] = {ref.kind: ref for ref in _BY_KEY.values()}


def resource_for(api_version: str | None, kind: str) -> ResourceRef:
    """The resource of an apiVersion + kind (no apiVersion: the kind's only one among those known).

    KeyError names the kind when Naksha does not know it.
    """
    try:
        return _BY_KEY[(api_version, kind)] if api_version else _BY_KIND[kind]
    except KeyError:
        raise KeyError(f"naksha does not manage {kind} in {api_version or 'any apiVersion'}") from None
