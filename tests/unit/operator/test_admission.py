"""Admission turns a spec's verdict into conditions, a phase, one status and Events."""

from __future__ import annotations

from naksha.models.kinds import EDGE_NODE, INSIGHT_STREAM
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext


def body(spec: dict, *, generation: int = 1, status: dict | None = None) -> dict:
    return {
        "metadata": {"name": "x", "namespace": "ns", "generation": generation},
        "spec": spec,
        "status": status or {},
    }


VALID_EDGE = {"identity": {"nodeId": "edge-1"}}


def test_a_valid_spec_is_accepted_with_an_event():
    context = admission.reconcile(ReconcileContext.from_body(EDGE_NODE, body(VALID_EDGE, generation=4)))
    status = context.status_patch()
    assert status["phase"] == "Accepted"
    assert status["observedGeneration"] == 4
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Accepted", "True", "SpecValid")
    ]
    assert [(e.type, e.reason) for e in context.events] == [("Normal", "SpecValid")]


def test_an_invalid_spec_reports_the_exact_reason_and_a_warning():
    context = admission.reconcile(
        ReconcileContext.from_body(INSIGHT_STREAM, body({"source": {"type": "redis"}}))
    )
    status = context.status_patch()
    reason = "spec.source: source.type is 'redis' but source.redis is missing"
    assert status["phase"] == "Invalid"
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["InvalidSpec"]["status"] == "True"
    assert by_type["InvalidSpec"]["message"] == reason
    assert by_type["Accepted"]["status"] == "False"
    assert [(e.type, e.message) for e in context.events] == [("Warning", reason)]


def test_fixing_the_spec_clears_invalid_spec_and_accepts_it():
    broken = admission.reconcile(ReconcileContext.from_body(EDGE_NODE, body({})))
    fixed = admission.reconcile(
        ReconcileContext.from_body(EDGE_NODE, body(VALID_EDGE, generation=2, status=broken.status_patch()))
    )
    status = fixed.status_patch()
    assert status["phase"] == "Accepted"
    assert [c["type"] for c in status["conditions"]] == ["Accepted"]
    assert status["conditions"][0]["status"] == "True"


def test_re_admitting_an_accepted_spec_posts_no_second_event():
    first = admission.reconcile(ReconcileContext.from_body(EDGE_NODE, body(VALID_EDGE)))
    again = admission.reconcile(
        ReconcileContext.from_body(EDGE_NODE, body(VALID_EDGE, status=first.status_patch()))
    )
    assert again.events == []
    assert (
        again.status_patch()["conditions"][0]["lastTransitionTime"]
        == first.conditions[0]["lastTransitionTime"]
    )
