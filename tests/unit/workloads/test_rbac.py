"""The shipped RBAC is generated from one list of rules, covers every identity the operator grants,
and every Service and container port carries a protocol (server-side apply needs the list key)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.support import ROOT

from naksha.controllers.agentrun.wpk import registered
from naksha.models.common import ObjectTarget
from naksha.settings import OperatorSettings
from naksha.workloads.identity import (
    OPERATOR_RULES,
    REVIEWER_ROLE,
    Rule,
    build_identity,
    build_review_binding,
    job_rules,
    review_binding_name,
    trainer_rules,
    worker_rules,
)
from naksha.workloads.rbac_files import rendered


def package_needs() -> list[str]:
    return [need for package in registered() for need in package.rbac]


def operator_allows(group: str, resource: str, verb: str) -> bool:
    return any(rule.allows(group, resource, verb) for rule in OPERATOR_RULES)


def pairs(rules: list[Rule]) -> list[tuple[str, str, str]]:
    return [(g, r, v) for rule in rules for g in rule.groups for r in rule.resources for v in rule.verbs]


class TestGeneratedFiles:
    @pytest.mark.parametrize("relative", sorted(str(p) for p in rendered()))
    def test_the_committed_file_is_what_the_rules_render(self, relative):
        expected = {str(p): text for p, text in rendered().items()}[relative]
        assert (ROOT / relative).read_text() == expected, "run `make rbac` and commit the result"

    def test_the_manifest_role_holds_exactly_the_operator_rules(self):
        documents = list(yaml.safe_load_all((ROOT / "manifests" / "rbac.yaml").read_text()))
        role = next(d for d in documents if d["kind"] == "ClusterRole")
        assert role["rules"] == [rule.as_dict() for rule in OPERATOR_RULES]

    def test_grants_nothing_the_code_does_not_use(self):
        granted = {(g, r) for g, r, _ in pairs(list(OPERATOR_RULES))}
        for unused in (("coordination.k8s.io", "leases"), ("events.k8s.io", "events"), ("", "pods/log")):
            assert unused not in granted
        assert ("apps", "deployments/scale") not in granted
        assert not any("update" in rule.verbs or "*" in rule.verbs for rule in OPERATOR_RULES)


class TestTheOperatorHoldsWhatItGrants:
    """The API server lets a subject create a Role only with rules it holds itself (no escalate)."""

    def test_the_workers_role(self):
        for group, resource, verb in pairs(worker_rules("s")):
            assert operator_allows(group, resource, verb), (group, resource, verb)

    @pytest.mark.parametrize("kind", OperatorSettings().agent_kinds)
    def test_an_executor_jobs_role_for_every_kind_a_run_may_target(self, kind):
        target = ObjectTarget.model_validate({"kind": kind, "name": "t"})
        for group, resource, verb in pairs(job_rules("r", target, package_needs())):
            assert operator_allows(group, resource, verb), (group, resource, verb)

    def test_a_training_jobs_role(self):
        for group, resource, verb in pairs(trainer_rules("v1")):
            assert operator_allows(group, resource, verb), (group, resource, verb)

    def test_every_work_package_need_since_the_operator_runs_them_itself(self):
        for group, resource, verb in pairs(job_rules("r", None, package_needs())):
            assert operator_allows(group, resource, verb), (group, resource, verb)


class TestPerObjectIdentities:
    def test_a_workers_role_names_its_own_stream_for_status(self):
        (status, stream, state, create_state, runs) = worker_rules("checkout")
        assert status.as_dict() == {
            "apiGroups": ["naksha.io"],
            "resources": ["insightstreams/status"],
            "verbs": ["patch"],
            "resourceNames": ["checkout"],
        }
        assert stream.names == ("checkout",) and stream.verbs == ("get",)
        assert state.names[0] == "checkout-insight-state" and set(state.verbs) == {"get", "patch"}
        # and the spill ConfigMaps a checkpoint larger than one ConfigMap fills, named in advance
        assert state.names[1:] == tuple(f"checkout-insight-state-{i}" for i in range(1, 33))
        assert create_state.verbs == ("create",) and not create_state.names
        assert runs.resources == ("agentruns",) and set(runs.verbs) == {"create", "list"}

    def test_workers_of_a_push_stream_are_bound_to_the_reviewer_role_by_name(self):
        binding = build_review_binding(
            namespace="shop", stream="checkout", account="checkout-insight", labels={}
        )
        assert binding["metadata"]["name"] == review_binding_name("shop", "checkout")
        assert binding["roleRef"]["name"] == REVIEWER_ROLE
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "checkout-insight", "namespace": "shop"}
        ]

    def test_a_jobs_role_names_its_run_and_its_target(self):
        target = ObjectTarget.model_validate({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})
        rules = {(r.groups, r.resources): r for r in job_rules("r1", target, package_needs())}
        assert rules[(("naksha.io",), ("agentruns/status",))].names == ("r1",)
        assert rules[(("apps",), ("deployments",))].names == ("web",)
        assert set(rules[(("",), ("pods",))].verbs) == {"get", "list", "delete"}

    def test_the_account_role_and_binding_tie_together(self):
        account, role, binding = build_identity(
            name="s-insight", namespace="ns", rules=worker_rules("s"), labels={}
        )
        assert (account["kind"], role["kind"], binding["kind"]) == ("ServiceAccount", "Role", "RoleBinding")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "s-insight",
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "s-insight", "namespace": "ns"}]


def ports(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec") or {}
    found = list(spec.get("ports") or [])
    template = (spec.get("template") or {}).get("spec") or {}
    for container in template.get("containers") or []:
        found += container.get("ports") or []
    return found


def test_every_port_of_the_manifests_names_its_protocol():
    documents = [
        d
        for path in sorted((ROOT / "manifests").glob("*.yaml"))
        for d in yaml.safe_load_all(path.read_text())
        if d
    ]
    checked = [port for d in documents for port in ports(d)]
    assert len(checked) == 6  # the operator's four; the hub's container port and its Service's
    assert all(port.get("protocol") == "TCP" for port in checked), checked
