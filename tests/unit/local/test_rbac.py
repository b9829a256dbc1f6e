"""RBAC decisions of the emulator, rule by rule, and how soon they follow changes to the rules."""

from __future__ import annotations

from typing import Any

import pytest

from naksha.local.apiserver.attributes import Attributes
from naksha.local.apiserver.authn import service_account_user
from naksha.local.apiserver.objects import ObjectService
from naksha.local.apiserver.rbac import Authorizer, rule_allows
from naksha.local.apiserver.resources import Catalog
from naksha.local.apiserver.store import Store

ROBOT = service_account_user("team", "robot")
GROUP = "rbac.authorization.k8s.io"


def ask(
    verb: str,
    resource: str,
    *,
    group: str = "",
    subresource: str = "",
    name: str = "",
    namespace: str = "team",
) -> Attributes:
    return Attributes(
        ROBOT,
        verb,
        True,
        api_group=group,
        resource=resource,
        subresource=subresource,
        name=name,
        namespace=namespace,
    )


@pytest.fixture
def api() -> ObjectService:
    service = ObjectService(Store(), Catalog())
    service.create(service.catalog.get("", "v1", "namespaces"), "", {"metadata": {"name": "team"}})
    return service


def store(api: ObjectService, plural: str, obj: dict[str, Any], namespace: str = "") -> None:
    api.create(api.catalog.get(GROUP, "v1", plural), namespace, obj)


def bind_robot(api: ObjectService, name: str, rules: list[dict[str, Any]]) -> None:
    store(api, "roles", {"metadata": {"name": name}, "rules": rules}, "team")
    ref = {"apiGroup": GROUP, "kind": "Role", "name": name}
    subjects = [{"kind": "ServiceAccount", "name": "robot"}]  # namespace: the binding's
    store(api, "rolebindings", {"metadata": {"name": name}, "roleRef": ref, "subjects": subjects}, "team")


class TestRules:
    @pytest.mark.parametrize(
        ("rule_resources", "subresource", "allowed"),
        [
            (["deployments"], "", True),
            (["deployments"], "scale", False),
            (["deployments/scale"], "scale", True),
            (["*/scale"], "scale", True),
            (["*/scale"], "", False),
            (["*"], "scale", True),
        ],
    )
    def test_subresources_need_their_own_rule(self, rule_resources, subresource, allowed):
        rule = {"apiGroups": ["apps"], "resources": rule_resources, "verbs": ["patch"]}
        assert (
            rule_allows(rule, ask("patch", "deployments", group="apps", subresource=subresource)) is allowed
        )

    def test_groups_verbs_and_names_must_all_match(self):
        rule = {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "verbs": ["get"],
            "resourceNames": ["web"],
        }
        assert rule_allows(rule, ask("get", "deployments", group="apps", name="web"))
        assert not rule_allows(rule, ask("get", "deployments", group="apps", name="db"))
        assert not rule_allows(rule, ask("list", "deployments", group="apps"))
        assert not rule_allows(rule, ask("get", "deployments", group="extensions", name="web"))

    def test_paths_match_exactly_or_by_a_trailing_star(self):
        rule = {"nonResourceURLs": ["/healthz", "/metrics/*"], "verbs": ["get"]}
        for path, allowed in (
            ("/healthz", True),
            ("/healthz/ready", False),
            ("/metrics/cadvisor", True),
            ("/metrics", False),
        ):
            assert rule_allows(rule, Attributes(ROBOT, "get", False, path=path)) is allowed


class TestDecisionsFollowChanges:
    def test_a_grant_counts_at_once_and_its_removal_too(self, api):
        authorizer = Authorizer(api.store)
        question = ask("list", "pods")
        assert authorizer.authorize(question)[0] is False
        bind_robot(api, "reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
        assert authorizer.authorize(question) == (
            True,
            'RBAC: allowed by RoleBinding "reader/team" of Role "reader" to ServiceAccount "robot/team"',
        )
        api.delete(api.catalog.get(GROUP, "v1", "rolebindings"), "team", "reader")
        assert authorizer.authorize(question)[0] is False

    def test_a_role_changed_under_its_binding_changes_the_decision(self, api):
        authorizer = Authorizer(api.store)
        bind_robot(api, "reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
        assert authorizer.authorize(ask("list", "pods"))[0] is True
        roles = api.catalog.get(GROUP, "v1", "roles")
        api.patch(roles, "team", "reader", lambda role: {**role, "rules": []})
        assert authorizer.authorize(ask("list", "pods"))[0] is False

    def test_a_role_binding_counts_in_its_namespace_only(self, api):
        authorizer = Authorizer(api.store)
        bind_robot(api, "reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
        assert authorizer.authorize(ask("list", "pods", namespace="elsewhere"))[0] is False
        assert authorizer.authorize(ask("list", "pods", namespace=""))[0] is False

    def test_always_allow_allows_anything(self, api):
        assert (
            Authorizer(api.store, "always-allow").authorize(ask("delete", "nodes", namespace=""))[0] is True
        )
