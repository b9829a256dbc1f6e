"""Conditions follow Kubernetes conventions: transitions are timed only when the status flips."""

from __future__ import annotations

from naksha.models.conditions import find_condition, remove_condition, set_condition


def test_setting_a_new_condition_appends_it_with_the_generation():
    conditions = set_condition(
        [], type_="Ready", status="True", reason="Ok", message="m", generation=3, now="T1"
    )
    assert conditions == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Ok",
            "message": "m",
            "lastTransitionTime": "T1",
            "observedGeneration": 3,
        }
    ]


def test_the_transition_time_is_kept_while_the_status_stays_the_same():
    first = set_condition([], type_="Ready", status="True", reason="A", message="", generation=1, now="T1")
    second = set_condition(
        first, type_="Ready", status="True", reason="B", message="", generation=2, now="T2"
    )
    assert second[0]["lastTransitionTime"] == "T1"
    assert second[0]["reason"] == "B"
    assert second[0]["observedGeneration"] == 2


def test_the_transition_time_moves_when_the_status_flips():
    first = set_condition([], type_="Ready", status="True", reason="A", message="", generation=1, now="T1")
    second = set_condition(
        first, type_="Ready", status="False", reason="B", message="", generation=1, now="T2"
    )
    assert second[0]["lastTransitionTime"] == "T2"


def test_other_conditions_are_kept_in_order_and_removal_is_by_type():
    conditions = set_condition([], type_="A", status="True", reason="r", message="", generation=None, now="T")
    conditions = set_condition(conditions, type_="B", status="False", reason="r", message="", generation=None)
    assert [c["type"] for c in conditions] == ["A", "B"]
    assert find_condition(conditions, "B") is not None
    assert [c["type"] for c in remove_condition(conditions, "A")] == ["B"]
    assert "observedGeneration" not in conditions[0]
