"""The Rollout reconciler's decisions, pass by pass, against an in-memory API with a clock of its own.

Each pass runs ``naksha.reconcilers.rollout`` over a ``ReconcileContext`` and then writes the
status as the handler does (once, only when it changed). The in-memory API (``FakeKube``)
implements the Kube client's protocol and logs every write, so the tests check both what the
steps decide and what they cost: one status write per pass, plus the recorded rollback's
checkpoint before the spec is reverted. The same behaviours run on the control plane in
``tests/integration/rollout``.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.fake_kube import FakeKube

from naksha.controllers.rollout.workloads import StaleRead
from naksha.domain.rollout import controls
from naksha.domain.rollout.revisions import revision_of
from naksha.handlers.common import differs
from naksha.kube import resource_for
from naksha.models.kinds import ROLLOUT
from naksha.reconcilers import rollout
from naksha.reconcilers.context import ReconcileContext

ROLLOUTS = resource_for("naksha.io/v1alpha1", "Rollout")
DEPLOYMENTS = resource_for("apps/v1", "Deployment")
NS, NAME = "shop", "web"
T0 = 1_800_000_000.0


def template(image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": image}]}}


def new_rollout(steps: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "naksha.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template("web:1"),
            "strategy": {"canary": {"steps": steps}},
            **spec,
        },
    }


def run_pass(
    kube: FakeKube, now: float, *, periodic: bool = False, body: dict[str, Any] | None = None
) -> ReconcileContext:
    """One pass, and the handler's one status write; ``body`` is a copy read earlier (else a fresh read)."""
    body = kube.get(ROLLOUTS, NS, NAME) if body is None else body
    context = ReconcileContext.from_body(ROLLOUT, body, kube=kube)
    (rollout.refresh if periodic else rollout.reconcile)(context, now)
    new_status = context.status_patch()
    if differs(body.get("status") or {}, new_status):
        kube.merge_patch(ROLLOUTS, NS, NAME, {"status": new_status}, status=True)
    return context


def status(kube: FakeKube) -> dict[str, Any]:
    return dict(kube.get(ROLLOUTS, NS, NAME).get("status") or {})


def set_image(kube: FakeKube, image: str) -> None:
    kube.merge_patch(ROLLOUTS, NS, NAME, {"spec": {"template": template(image)}})


def annotate(kube: FakeKube, key: str, value: str = "") -> None:
    kube.merge_patch(ROLLOUTS, NS, NAME, {"metadata": {"annotations": {key: value}}})


def make_ready(kube: FakeKube, role: str) -> None:
    """What the Deployment controller would report: every wanted pod ready and available."""
    deployment = kube.objects[("deployments", NS, f"{NAME}-{role}")]
    replicas = deployment["spec"]["replicas"]
    deployment["status"] = {"readyReplicas": replicas, "availableReplicas": replicas}


def make_unready(kube: FakeKube, role: str) -> None:
    """A new template's pods not up yet: the Deployment controller reports none available."""
    kube.objects[("deployments", NS, f"{NAME}-{role}")]["status"] = {}


def annotations(kube: FakeKube) -> dict[str, str]:
    return dict(kube.get(ROLLOUTS, NS, NAME)["metadata"].get("annotations") or {})


def replicas(kube: FakeKube) -> tuple[int, int]:
    return tuple(  # type: ignore[return-value]
        kube.get(DEPLOYMENTS, NS, f"{NAME}-{role}")["spec"]["replicas"] for role in ("stable", "canary")
    )


def settled_rollout(steps: list[dict[str, Any]], **spec: Any) -> FakeKube:
    kube = FakeKube(new_rollout(steps, **spec))
    run_pass(kube, T0)
    make_ready(kube, "stable")
    run_pass(kube, T0 + 1)
    kube.writes.clear()
    return kube


def test_a_new_rollout_takes_its_template_as_stable_and_writes_its_status_once():
    kube = FakeKube(new_rollout([{"setWeight": 50}]))
    context = run_pass(kube, T0)
    first = status(kube)
    assert first["stableRevision"] == first["currentRevision"] == revision_of(template("web:1"))
    assert first["phase"] == "Progressing"  # no stable pod is ready yet
    assert replicas(kube) == (4, 0)
    assert kube.status_writes("rollouts", NAME) == 1
    assert [(e.type, e.reason) for e in context.events] == [("Normal", "SpecValid")]
    make_ready(kube, "stable")
    run_pass(kube, T0 + 1)
    assert status(kube)["phase"] == "Healthy"


def test_a_timer_pass_over_a_settled_healthy_rollout_writes_nothing():
    kube = settled_rollout([{"setWeight": 50}])
    context = run_pass(kube, T0 + 60, periodic=True)
    assert context.halted
    assert kube.writes == []


def test_a_new_revision_waits_for_its_canary_then_pauses_until_promoted():
    kube = settled_rollout([{"setWeight": 50}, {"pause": {}}])
    set_image(kube, "web:2")
    context = run_pass(kube, T0 + 10)
    assert [e.reason for e in context.events] == ["RolloutStarted"]
    assert (status(kube)["phase"], status(kube)["canaryWeight"]) == ("Progressing", 50)
    assert replicas(kube) == (2, 2)
    make_ready(kube, "canary")
    run_pass(kube, T0 + 11)
    assert status(kube)["phase"] == "Paused" and status(kube)["currentStepIndex"] == 1
    annotate(kube, controls.PROMOTE)
    context = run_pass(kube, T0 + 12)
    assert [e.reason for e in context.events] == ["Promoted"]
    assert status(kube)["stableRevision"] == revision_of(template("web:2"))
    assert "currentStepIndex" not in status(kube)
    assert replicas(kube) == (4, 0)
    assert controls.PROMOTE not in (kube.get(ROLLOUTS, NS, NAME)["metadata"].get("annotations") or {})


def test_an_abort_checkpoints_the_rollback_before_reverting_the_spec():
    kube = settled_rollout([{"setWeight": 50}, {"pause": {}}])
    set_image(kube, "web:2")
    run_pass(kube, T0 + 10)
    annotate(kube, controls.ABORT, "too slow")
    kube.writes.clear()
    context = run_pass(kube, T0 + 11)
    assert [w for w in kube.writes if w[0] != "apply"] == [
        ("patch", "rollouts", NAME, "status"),  # the recorded rollback, durable first
        ("patch", "rollouts", NAME, ""),  # the consumed abort annotation
        ("json-patch", "rollouts", NAME, ""),  # the spec reverted to the stable template
        ("patch", "rollouts", NAME, "status"),  # the pass's one status write
    ]
    after = status(kube)
    assert after["rollback"]["why"] == "Aborted" and after["rollback"]["specReverted"] is True
    assert after["badRevisions"] == [revision_of(template("web:2"))]
    assert kube.get(ROLLOUTS, NS, NAME)["spec"]["template"] == template("web:1")
    assert ("Warning", "RolledBack") in [(e.type, e.reason) for e in context.events]
    run_pass(kube, T0 + 12)
    assert status(kube)["phase"] == "RolledBack"


def test_a_known_bad_revision_is_not_tried_again_until_retried():
    kube = settled_rollout([{"setWeight": 50}, {"pause": {}}])
    set_image(kube, "web:2")
    run_pass(kube, T0 + 10)
    annotate(kube, controls.ABORT, "bad")
    run_pass(kube, T0 + 11)
    set_image(kube, "web:2")  # the same template applied again
    run_pass(kube, T0 + 12)
    assert status(kube)["phase"] == "Degraded" and "was rolled back before" in status(kube)["message"]
    assert replicas(kube) == (4, 0)
    annotate(kube, controls.RETRY)
    context = run_pass(kube, T0 + 13)
    assert [e.reason for e in context.events] == ["Retry", "RolloutStarted"]
    assert status(kube)["badRevisions"] == [] and status(kube)["canaryWeight"] == 50


def test_canary_pods_that_never_come_up_hit_the_progress_deadline():
    kube = settled_rollout([{"setWeight": 50}], progressDeadlineSeconds=30)
    set_image(kube, "web:2")
    run_pass(kube, T0 + 10)
    run_pass(kube, T0 + 39)
    assert status(kube)["phase"] == "Progressing"
    run_pass(kube, T0 + 41)
    assert status(kube)["rollback"]["why"] == "ProgressDeadlineExceeded"
    conditions = {c["type"]: c for c in status(kube)["conditions"]}
    assert conditions["RolledBack"]["reason"] == "ProgressDeadlineExceeded"


def test_a_new_rollback_record_replaces_the_last_ones_gitops_outcome_in_the_stored_status():
    """A kill between the recorded rollback and its revert must not leave the previous rollback's
    commit in the new record (the restarted pass would think the revert done)."""
    kube = settled_rollout([{"setWeight": 50}, {"pause": {}}])
    stable = status(kube)["stableRevision"]
    earlier = {
        "badRevision": "0123456789",
        "stableRevision": stable,
        "reason": "an earlier rollback",
        "at": T0,
        "specReverted": True,
        "gitops": {"commit": "c0ffee", "created": True, "alreadyPushed": False, "seconds": 0.5},
    }
    kube.merge_patch(ROLLOUTS, NS, NAME, {"status": {"rollback": earlier}}, status=True)
    set_image(kube, "web:2")
    run_pass(kube, T0 + 10)
    annotate(kube, controls.ABORT, "bad")
    body = kube.get(ROLLOUTS, NS, NAME)
    context = ReconcileContext.from_body(ROLLOUT, body, kube=kube)
    rollout.reconcile(context, T0 + 11)  # the checkpoint is written; the pass's own write never is
    recorded = status(kube)["rollback"]
    assert recorded["badRevision"] == revision_of(template("web:2"))
    assert "gitops" not in recorded


# --- promote: acted on exactly once, never lost ----------------------------------------------------


def test_a_promote_given_while_a_newer_templates_canary_comes_up_ends_the_pause_it_reaches():
    """The interleaving seen on the real control plane: paused at web:2, web:3 arrives, the user
    promotes (the status still says Paused) while web:3's canary pods are not up yet."""
    kube = settled_rollout([{"setWeight": 50}, {"pause": {}}])
    set_image(kube, "web:2")
    run_pass(kube, T0 + 10)
    make_ready(kube, "canary")
    run_pass(kube, T0 + 11)
    assert status(kube)["phase"] == "Paused"
    set_image(kube, "web:3")
    annotate(kube, controls.PROMOTE)
    run_pass(kube, T0 + 12)  # web:3 starts again from the first step; its canary pods come up
    make_unready(kube, "canary")
    run_pass(kube, T0 + 13, periodic=True)
    assert status(kube)["phase"] == "Progressing" and status(kube)["currentStepIndex"] == 0
    assert controls.PROMOTE in annotations(kube)  # kept for the pause this rollout will reach
    make_ready(kube, "canary")
    context = run_pass(kube, T0 + 14, periodic=True)
    assert [e.reason for e in context.events] == ["Promoted"]
    assert status(kube)["stableRevision"] == revision_of(template("web:3"))
    assert replicas(kube) == (4, 0)
    assert controls.PROMOTE not in annotations(kube)


def test_a_promote_ends_one_pause_only():
    kube = settled_rollout([{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}])
    set_image(kube, "web:2")
    annotate(kube, controls.PROMOTE)  # before the first pause is reached
    run_pass(kube, T0 + 10)
    make_ready(kube, "canary")
    run_pass(kube, T0 + 11)  # the first pause ends at once; the canary grows to 50%
    assert status(kube)["currentStepIndex"] == 2 and controls.PROMOTE not in annotations(kube)
    make_ready(kube, "canary")
    run_pass(kube, T0 + 12)
    assert (status(kube)["phase"], status(kube)["currentStepIndex"]) == ("Paused", 3)


def test_a_promote_with_nothing_in_progress_is_removed_and_not_kept_for_a_later_rollout():
    kube = settled_rollout([{"setWeight": 50}, {"pause": {}}])
    annotate(kube, controls.PROMOTE)
    run_pass(kube, T0 + 10)
    assert controls.PROMOTE not in annotations(kube)
    set_image(kube, "web:2")
    run_pass(kube, T0 + 11)
    make_ready(kube, "canary")
    run_pass(kube, T0 + 12)
    assert status(kube)["phase"] == "Paused"


def test_a_pass_on_a_copy_read_before_a_promote_was_spent_writes_nothing():
    """kopf's timer may hand a pass a body older than the last pass's writes: removing the promote
    is a compare-and-swap on that body's resourceVersion, so the stale pass neither ends a second
    pause nor puts its older status back."""
    kube = settled_rollout([{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}])
    set_image(kube, "web:2")
    run_pass(kube, T0 + 10)
    make_ready(kube, "canary")
    run_pass(kube, T0 + 11)
    annotate(kube, controls.PROMOTE)
    stale = kube.get(ROLLOUTS, NS, NAME)  # paused at step 1, with the promote
    run_pass(kube, T0 + 12)  # ends the first pause
    make_ready(kube, "canary")
    run_pass(kube, T0 + 13)  # reaches the second pause
    assert (status(kube)["phase"], status(kube)["currentStepIndex"]) == ("Paused", 3)
    kube.writes.clear()
    with pytest.raises(StaleRead):
        run_pass(kube, T0 + 14, periodic=True, body=stale)
    assert kube.status_writes("rollouts", NAME) == 0
    assert (status(kube)["phase"], status(kube)["currentStepIndex"]) == ("Paused", 3)
