"""The CRDs' status schemas come from the typed status models, and kubectl sees them.

Applied to the local control plane with the real kubectl: ``kubectl explain`` describes the
status fields of each typed kind, and the API server keeps a status written in the models' shape
(nothing the operator writes is pruned away).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import yaml
from tests.support import Kubectl

from naksha.models.agentrun import ActionRecord, AgentRunStatus, StepRecord
from naksha.models.rollout import GitOpsOutcome, MetricRecord, RevisionRecord, RollbackRecord, RolloutStatus

pytestmark = pytest.mark.usefixtures("naksha_crds")


@pytest.mark.parametrize(
    ("resource", "fields"),
    [
        ("rollout.status", ("stableRevision", "currentStepIndex", "canaryWeight", "rollback", "analysis")),
        ("rollout.status.rollback", ("badRevision", "specReverted", "gitops")),
        ("agentrun.status", ("currentNode", "stepCount", "actions", "outcome")),
        ("insightstream.status", ("readyReplicas", "shards", "lastAnomaly", "ingested")),
    ],
)
def test_kubectl_explain_shows_the_typed_status_fields(
    kubectl: Kubectl, resource: str, fields: tuple[str, ...]
):
    shown = kubectl("explain", f"{resource}").stdout
    for name in (*fields, "conditions") if resource.endswith(".status") else fields:
        assert name in shown, f"kubectl explain {resource} does not show {name}:\n{shown}"


def test_kubectl_explain_describes_a_nested_status_field(kubectl: Kubectl):
    shown = kubectl("explain", "rollout.status.rollback.specReverted").stdout
    assert "boolean" in shown.lower()


def _create(kubectl: Kubectl, namespace: str, body: dict[str, Any]) -> None:
    kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(body))


def test_a_status_in_the_models_shape_is_stored_whole(kubectl: Kubectl, fresh_namespace: str):
    name = f"r-{uuid.uuid4().hex[:6]}"
    template = {
        "metadata": {"labels": {"app": "demo"}},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    _create(
        kubectl,
        fresh_namespace,
        {
            "apiVersion": "naksha.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "demo"}}, "template": template},
        },
    )
    status = RolloutStatus(
        phase="Degraded",
        stable_revision="aaaa",
        current_revision="bbbb",
        current_step_index=None,
        canary_weight=0,
        revisions=[RevisionRecord(revision="aaaa", template=template)],
        bad_revisions=["bbbb"],
        analysis={"step1/errors": MetricRecord(phase="Failed", taken=2, failed=2, next_at=12.5)},
        rollback=RollbackRecord(
            bad_revision="bbbb",
            stable_revision="aaaa",
            reason="analysis errors failed",
            why="AnalysisFailed",
            at=1.5,
            id="0123456789abcdef",
            spec_reverted=True,
            gitops=GitOpsOutcome(commit="c0ffee", created=True, already_pushed=False, seconds=0.25),
        ),
        message="rolled back",
    )
    wire = {k: v for k, v in status.wire().items() if v is not None}
    kubectl(
        "patch",
        "-n",
        fresh_namespace,
        "rollout",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": wire}),
    )
    stored = json.loads(kubectl("get", "-n", fresh_namespace, "rollout", name, "-o", "json").stdout)["status"]
    assert RolloutStatus.read(stored).plain() == RolloutStatus.read(wire).plain()
    assert stored["rollback"]["gitops"]["commit"] == "c0ffee"
    assert stored["revisions"][0]["template"] == template


def test_an_agentrun_status_keeps_its_free_form_parts(kubectl: Kubectl, fresh_namespace: str):
    name = f"a-{uuid.uuid4().hex[:6]}"
    _create(
        kubectl,
        fresh_namespace,
        {
            "apiVersion": "naksha.io/v1alpha1",
            "kind": "AgentRun",
            "metadata": {"name": name},
            "spec": {"playbookRef": {"name": "restart"}},
        },
    )
    status = AgentRunStatus(
        phase="Running",
        current_node="act",
        step_count=1,
        state={"observed": {"replicas": 3, "nested": [1, 2]}},
        steps=[
            StepRecord(node="look", type="observe", started="t0", finished="t1", result={"any": {"x": 1}})
        ],
        actions={
            "k1": ActionRecord(
                node="act", wpk="scale", params={"to": 4}, plan={"replicas": 4}, started_at="t1"
            )
        },
    )
    kubectl(
        "patch",
        "-n",
        fresh_namespace,
        "agentrun",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status.wire()}),
    )
    stored = json.loads(kubectl("get", "-n", fresh_namespace, "agentrun", name, "-o", "json").stdout)[
        "status"
    ]
    assert stored["state"] == {"observed": {"replicas": 3, "nested": [1, 2]}}
    assert stored["steps"][0]["result"] == {"any": {"x": 1}}
    assert stored["actions"]["k1"]["plan"] == {"replicas": 4}
