"""Judging probe readings: workloads, pods, HTTP, metrics, insight detectors, modes."""

from __future__ import annotations

import pytest

from naksha.domain.chaos.probes import (
    applies,
    judge_http,
    judge_insight,
    judge_metric,
    judge_pod,
    judge_workload,
    parse_comparison,
)


def deployment(replicas: int, available: int) -> dict:
    return {"spec": {"replicas": replicas}, "status": {"availableReplicas": available}}


def test_a_workload_is_steady_with_all_its_replicas_available():
    assert judge_workload("d", deployment(2, 2), None).ok
    assert not judge_workload("d", deployment(2, 1), None).ok
    assert judge_workload("d", deployment(2, 1), 1).ok


def test_a_workload_scaled_to_zero_is_not_steady():
    result = judge_workload("d", deployment(0, 0), None)
    assert not result.ok
    assert "0 available of 1 needed" in result.message


def test_a_missing_object_is_not_steady():
    assert not judge_workload("d", None, None).ok
    assert not judge_pod("p", None).ok


def test_a_pod_is_steady_while_running():
    assert judge_pod("p", {"status": {"phase": "Running"}}).ok
    assert not judge_pod("p", {"status": {"phase": "Failed"}}).ok


def test_http_probes_check_status_and_latency():
    assert judge_http("h", 200, 0.1, 200, 0.5).ok
    assert "expected 200" in judge_http("h", 503, 0.1, 200, None).message
    assert "more than 0.500s" in judge_http("h", 200, 0.9, 200, 0.5).message
    assert "no answer: refused" in judge_http("h", None, 0.0, 200, None, "refused").message


@pytest.mark.parametrize(
    ("value", "condition", "tolerance", "ok"),
    [
        (0.2, "< 0.5", None, True),
        (0.6, "< 0.5", None, False),
        (0.55, "< 0.5", 0.1, True),
        (3, ">= 3", None, True),
        (2.95, "== 3", 0.1, True),
        (None, "< 1", None, False),
    ],
)
def test_metric_probes_compare_the_value_with_the_condition(value, condition, tolerance, ok):
    assert judge_metric("m", value, condition, tolerance).ok is ok


def test_a_malformed_metric_condition_is_refused_with_the_expected_form():
    with pytest.raises(ValueError, match=r"e\.g\. '< 0\.5'"):
        parse_comparison("less than 3")


def test_an_insight_probe_is_steady_while_its_detector_has_no_open_incident():
    assert judge_insight("i", {"detectors": {"p99": {"active": 0}}}, "p99").ok
    assert not judge_insight("i", {"detectors": {"p99": {"active": 2}}}, "p99").ok
    assert not judge_insight("i", {"detectors": {}}, "p99").ok


def test_probe_modes_choose_the_phases_they_are_checked_in():
    assert applies("before", "before") and not applies("before", "after")
    assert applies("before-after", "after") and not applies("before-after", "during")
    assert all(applies("continuous", phase) for phase in ("before", "during", "after"))
