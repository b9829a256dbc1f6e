"""The kinds Naksha reads or writes (apiVersion, kind, plural), and how their API paths are built.

The one place these facts live: every module names a resource by its constant here (``PODS``,
``ROLLOUTS``...) or looks one up with ``resource_for(apiVersion, kind)`` when the kind comes from
user input. Plain data (standard library), so pure code can name a resource too.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from naksha.models.group import API_VERSION, GROUP, VERSION
from naksha.models.kinds import (
    AGENT_RUN,
    CHAOS_EXPERIMENT,
    EDGE_NODE,
    INSIGHT_STREAM,
    KINDS,
    MODEL_VERSION,
    ROLLOUT,
)


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


PODS = ResourceRef("", "v1", "pods", "Pod")
SERVICES = ResourceRef("", "v1", "services", "Service")
CONFIG_MAPS = ResourceRef("", "v1", "configmaps", "ConfigMap")
SECRETS = ResourceRef("", "v1", "secrets", "Secret")
EVENTS = ResourceRef("", "v1", "events", "Event")
SERVICE_ACCOUNTS = ResourceRef("", "v1", "serviceaccounts", "ServiceAccount")
NAMESPACES = ResourceRef("", "v1", "namespaces", "Namespace", namespaced=False)
DEPLOYMENTS = ResourceRef("apps", "v1", "deployments", "Deployment")
JOBS = ResourceRef("batch", "v1", "jobs", "Job")
ROLES = ResourceRef("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDINGS = ResourceRef("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
CLUSTER_ROLE_BINDINGS = ResourceRef(
    "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
)
# Reviews: created, never stored; how the HTTP endpoints ask the cluster who calls and what they may do.
TOKEN_REVIEWS = ResourceRef("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", namespaced=False)
SUBJECT_ACCESS_REVIEWS = ResourceRef(
    "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", namespaced=False
)
_BUILTIN = (
    PODS,
    SERVICES,
    CONFIG_MAPS,
    SECRETS,
    EVENTS,
    SERVICE_ACCOUNTS,
    NAMESPACES,
    DEPLOYMENTS,
    JOBS,
    ROLES,
    ROLE_BINDINGS,
    CLUSTER_ROLE_BINDINGS,
    TOKEN_REVIEWS,
    SUBJECT_ACCESS_REVIEWS,
)
_BY_KEY: dict[tuple[str, str], ResourceRef] = {(r.api_version, r.kind): r for r in _BUILTIN}
for _info in KINDS:
    _ref = ResourceRef(GROUP, VERSION, _info.plural, _info.kind)
    _BY_KEY[(_ref.api_version, _ref.kind)] = _ref

# Naksha's own kinds, by name (every kind in naksha.models.kinds is also found by resource_for).
INSIGHT_STREAMS = _BY_KEY[(API_VERSION, INSIGHT_STREAM.kind)]
AGENT_RUNS = _BY_KEY[(API_VERSION, AGENT_RUN.kind)]
MODEL_VERSIONS = _BY_KEY[(API_VERSION, MODEL_VERSION.kind)]
EDGE_NODES = _BY_KEY[(API_VERSION, EDGE_NODE.kind)]
CHAOS_EXPERIMENTS = _BY_KEY[(API_VERSION, CHAOS_EXPERIMENT.kind)]
ROLLOUTS = _BY_KEY[(API_VERSION, ROLLOUT.kind)]

_BY_KIND: dict[str, ResourceRef] = {ref.kind: ref for ref in _BY_KEY.values()}


def resource_for(api_version: str | None, kind: str) -> ResourceRef:
    """The resource of an apiVersion + kind (no apiVersion: the kind's only one among those known).

    KeyError names the kind when Naksha does not know it.
    """
    try:
        return _BY_KEY[(api_version, kind)] if api_version else _BY_KIND[kind]
    except KeyError:
        raise KeyError(f"naksha does not manage {kind} in {api_version or 'any apiVersion'}") from None
