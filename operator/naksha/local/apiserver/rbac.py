"""RBAC evaluation over the Roles, ClusterRoles and bindings stored in the emulator.

The rules are read from the store on every decision (nothing to invalidate: a new binding
counts for the very next request). What is evaluated, as the real RBAC authorizer does:
ClusterRoleBindings everywhere, RoleBindings in their own namespace (to a Role of that
namespace or to a ClusterRole); subjects ``User``, ``Group`` and ``ServiceAccount``; verbs,
apiGroups, resources with subresources (``deployments/scale``, ``*/status``), resourceNames and
nonResourceURLs (with a trailing ``*``), each with ``*``; ClusterRoles with an
``aggregationRule`` (``matchLabels`` selectors) take the rules of the ClusterRoles they select.
``system:masters`` is allowed everything before any rule is read, as on a real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from naksha.local.apiserver.attributes import Attributes
from naksha.local.apiserver.authn import MASTERS, UserInfo
from naksha.local.apiserver.objects import ObjectService
from naksha.local.apiserver.store import Store

GROUP = "rbac.authorization.k8s.io"
ROLES = f"{GROUP}/v1/roles"
CLUSTER_ROLES = f"{GROUP}/v1/clusterroles"
ROLE_BINDINGS = f"{GROUP}/v1/rolebindings"
CLUSTER_ROLE_BINDINGS = f"{GROUP}/v1/clusterrolebindings"
RBAC = "rbac"
ALWAYS_ALLOW = "always-allow"
MODES = (RBAC, ALWAYS_ALLOW)
_KNOWN_LIMIT = 4096  # users x namespaces remembered; past it, start again


@dataclass(frozen=True)
class Grant:
    """One binding that applies to a user: who granted what, and the rules it grants."""

    binding: dict[str, Any]
    subject: dict[str, Any]
    rules: list[dict[str, Any]]
    errors: list[str]  # a role the binding names that does not exist


class Authorizer:
    """Decides ``Attributes``: ``rbac`` evaluates the stored rules, ``always-allow`` allows all.

    The bindings that apply to a user in a namespace are worked out once and kept until any
    Role, ClusterRole or binding changes: the store's events for those four resources are
    drained (synchronously) before each decision, so a change counts for the very next request.
    """

    def __init__(self, store: Store, mode: str = RBAC) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown authorization mode {mode!r}: use one of {', '.join(MODES)}")
        self.store = store
        self.mode = mode
        self._changes = [
            store.subscribe(r, None) for r in (ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)
        ]
        self._known: dict[tuple[str, tuple[str, ...], str], list[Grant]] = {}

    def allows_everything(self, user: UserInfo) -> bool:
        return self.mode == ALWAYS_ALLOW or user.is_master

    def authorize(self, attributes: Attributes) -> tuple[bool, str]:
        """Whether the request is allowed, and why: the granting binding, or what was missing."""
        if self.allows_everything(attributes.user):
            return True, ""
        grants = self._grants(attributes.user, attributes.namespace)
        for grant in grants:
            if any(rule_allows(rule, attributes) for rule in grant.rules):
                return True, f"RBAC: allowed by {_describe(grant.binding, grant.subject)}"
        errors = [error for grant in grants for error in grant.errors]
        return False, f"RBAC: {'; '.join(errors)}" if errors else ""

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict[str, Any]], list[str]]:
        """Every rule that applies to ``user`` in ``namespace`` (SelfSubjectRulesReview), with errors."""
        if self.allows_everything(user):
            everything = [
                {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                {"verbs": ["*"], "nonResourceURLs": ["*"]},
            ]
            return everything, []
        grants = self._grants(user, namespace)
        return [r for g in grants for r in g.rules], [e for g in grants for e in g.errors]

    def _grants(self, user: UserInfo, namespace: str) -> list[Grant]:
        changed = False
        for subscriber in self._changes:
            while not subscriber.queue.empty():
                subscriber.queue.get_nowait()
                changed = True
        if changed or len(self._known) > _KNOWN_LIMIT:
            self._known.clear()
        key = (user.username, user.groups, namespace)
        grants = self._known.get(key)
        if grants is None:
            grants = self._known[key] = list(self._find_grants(user, namespace))
        return grants

    def _find_grants(self, user: UserInfo, namespace: str) -> Iterator[Grant]:
        """The grants of each binding of ``user`` that counts in ``namespace``."""
        scopes = [(CLUSTER_ROLE_BINDINGS, "")] + ([(ROLE_BINDINGS, namespace)] if namespace else [])
        for resource, scope in scopes:
            for binding in self.store.items(resource, scope if scope else None):
                subject = _bound_subject(binding, user, scope)
                if subject is not None:
                    errors: list[str] = []
                    yield Grant(binding, subject, self._role_rules(binding, scope, errors), errors)

    def _role_rules(self, binding: dict[str, Any], namespace: str, errors: list[str]) -> list[dict[str, Any]]:
        ref = binding.get("roleRef") or {}
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "Role" and namespace:
            role = self.store.get(ROLES, namespace, name)
            missing = f'role.{GROUP} "{name}" not found'
        elif kind == "ClusterRole":
            role = self.store.get(CLUSTER_ROLES, "", name)
            missing = f'clusterrole.{GROUP} "{name}" not found'
        else:
            return []
        if role is None:
            errors.append(missing)
            return []
        return self._cluster_role_rules(role) if kind == "ClusterRole" else list(role.get("rules") or [])

    def _cluster_role_rules(self, role: dict[str, Any]) -> list[dict[str, Any]]:
        aggregation = role.get("aggregationRule")
        if not aggregation:
            return list(role.get("rules") or [])
        rules: list[dict[str, Any]] = []
        for selector in aggregation.get("clusterRoleSelectors") or []:
            wanted = (selector or {}).get("matchLabels") or {}
            for other in self.store.items(CLUSTER_ROLES):
                labels = other["metadata"].get("labels") or {}
                if other is not role and all(labels.get(k) == v for k, v in wanted.items()):
                    rules.extend(other.get("rules") or [])
        return rules


def _bound_subject(binding: dict[str, Any], user: UserInfo, namespace: str) -> dict[str, Any] | None:
    """The subject of ``binding`` that ``user`` is, if any."""
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "User" and name == user.username:
            return dict(subject)
        if kind == "Group" and name in user.groups:
            return dict(subject)
        if kind == "ServiceAccount":
            account_namespace = subject.get("namespace") or namespace
            if user.username == f"system:serviceaccount:{account_namespace}:{name}":
                return {**subject, "namespace": account_namespace}
    return None


def _describe(binding: dict[str, Any], subject: dict[str, Any]) -> str:
    """``RoleBinding "b/ns" of Role "r" to ServiceAccount "sa/ns"``, as the real authorizer says it."""
    meta = binding["metadata"]
    ref = binding.get("roleRef") or {}
    if meta.get("namespace"):
        where = f'RoleBinding "{meta["name"]}/{meta["namespace"]}"'
    else:
        where = f'ClusterRoleBinding "{meta["name"]}"'
    who = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        who = f"{who}/{subject['namespace']}"
    return f'{where} of {ref.get("kind")} "{ref.get("name")}" to {subject.get("kind")} "{who}"'


def rule_allows(rule: dict[str, Any], attributes: Attributes) -> bool:
    """Whether one PolicyRule covers the request (the real authorizer's matching, rule by rule)."""
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attributes.verb not in verbs:
        return False
    if not attributes.resource_request:
        return any(_url_matches(url, attributes.path) for url in rule.get("nonResourceURLs") or [])
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attributes.api_group not in groups:
        return False
    if not any(_resource_matches(r, attributes) for r in rule.get("resources") or []):
        return False
    names = rule.get("resourceNames") or []
    return not names or attributes.name in names


def _resource_matches(rule_resource: str, attributes: Attributes) -> bool:
    requested = attributes.resource
    if attributes.subresource:
        requested = f"{requested}/{attributes.subresource}"
    if rule_resource in ("*", requested):
        return True
    return bool(attributes.subresource) and rule_resource == f"*/{attributes.subresource}"


def _url_matches(rule_url: str, path: str) -> bool:
    if rule_url == "*" or rule_url == path:
        return True
    return rule_url.endswith("*") and path.startswith(rule_url[:-1])


def create_bootstrap_policy(api: ObjectService) -> None:
    """Store the default roles and bindings, as a real API server does when it starts."""
    for plural, obj in bootstrap_policy():
        resource = api.catalog.get(GROUP, "v1", plural)
        assert resource is not None
        api.create(resource, "", obj)


def bootstrap_policy() -> list[tuple[str, dict[str, Any]]]:
    """The default roles a real API server creates that this emulator's clients rely on.

    ``cluster-admin`` for ``system:masters``; discovery, version and health for every
    authenticated user; self-reviews (``kubectl auth can-i``, ``whoami``); the service-account
    issuer's discovery documents for ServiceAccounts; ``system:auth-delegator`` (TokenReview and
    SubjectAccessReview, unbound) for servers that delegate. ``admin``/``edit``/``view`` are not made.
    """
    labels = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    annotations = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
    roles: dict[str, list[dict[str, Any]]] = {
        "cluster-admin": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
        "system:discovery": [
            {
                "nonResourceURLs": [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                "verbs": ["get"],
            }
        ],
        "system:basic-user": [
            {
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                "verbs": ["create"],
            },
            {
                "apiGroups": ["authentication.k8s.io"],
                "resources": ["selfsubjectreviews"],
                "verbs": ["create"],
            },
        ],
        "system:public-info-viewer": [
            {"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}
        ],
        "system:auth-delegator": [
            {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
            {
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["subjectaccessreviews"],
                "verbs": ["create"],
            },
        ],
        "system:service-account-issuer-discovery": [
            {"nonResourceURLs": ["/.well-known/openid-configuration", "/openid/v1/jwks"], "verbs": ["get"]}
        ],
    }
    bound_to = {
        "cluster-admin": MASTERS,
        "system:discovery": "system:authenticated",
        "system:basic-user": "system:authenticated",
        "system:public-info-viewer": "system:authenticated",
        "system:service-account-issuer-discovery": "system:serviceaccounts",
    }
    objects: list[tuple[str, dict[str, Any]]] = []
    for name, rules in roles.items():
        meta = {"name": name, "labels": labels, "annotations": annotations}
        objects.append(("clusterroles", {"metadata": meta, "rules": rules}))
        if name not in bound_to:
            continue  # granted by the bindings a user makes (system:auth-delegator)
        binding = {
            "metadata": meta,
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": bound_to[name]}],
        }
        objects.append(("clusterrolebindings", binding))
    return objects
