"""Canary arithmetic, revisions, and how analysis judges measurements and decides a metric."""

from __future__ import annotations

import pytest

from naksha.domain.rollout.analysis import Measurement, MetricProgress, judge
from naksha.domain.rollout.revisions import remember, revision_of, template_of
from naksha.models.rollout import AnalysisMetric
from naksha.workloads.rollout import build_role_deployment, canary_split


@pytest.mark.parametrize(
    ("replicas", "weight", "split"),
    [
        (4, 0, (4, 0)),
        (4, 25, (3, 1)),
        (4, 50, (2, 2)),
        (4, 100, (0, 4)),
        (3, 10, (2, 1)),
        (10, 33, (6, 4)),
        (0, 50, (0, 0)),
    ],
)
def test_a_weight_splits_replicas_with_at_least_one_canary_pod(replicas, weight, split):
    assert canary_split(replicas, weight) == split


def test_both_deployments_select_only_their_own_pods_but_carry_the_rollout_labels():
    template = {
        "metadata": {"labels": {"app": "shop"}},
        "spec": {"containers": [{"name": "a", "image": "i"}]},
    }
    canary = build_role_deployment(
        rollout="shop",
        namespace="n",
        role="canary",
        revision="abc",
        template=template,
        selector={"app": "shop"},
        replicas=1,
    )
    labels = canary["spec"]["template"]["metadata"]["labels"]
    assert (
        labels["app"] == "shop"
        and labels["naksha.io/rollout-role"] == "canary"
        and labels["naksha.io/revision"] == "abc"
    )
    assert canary["spec"]["selector"]["matchLabels"] == {
        "app": "shop",
        "naksha.io/rollout-role": "canary",
        "naksha.io/rollout": "shop",
    }
    assert template["metadata"]["labels"] == {"app": "shop"}  # the Rollout's own template is not touched


def test_revisions_are_stable_hashes_and_the_history_keeps_the_newest():
    a, b, c = ({"spec": {"containers": [{"image": f"i:{n}"}]}} for n in range(3))
    assert revision_of(a) == revision_of(dict(a)) != revision_of(b)
    history = remember([], revision_of(a), a, limit=1)
    history = remember(history, revision_of(b), b, limit=1)
    history = remember(history, revision_of(c), c, limit=1)
    assert [h["revision"] for h in history] == [revision_of(b), revision_of(c)]
    assert template_of(history, revision_of(b)) == b and template_of(history, revision_of(a)) is None


def metric(**fields) -> AnalysisMetric:
    return AnalysisMetric.model_validate({"name": "m", "provider": {"http": {"url": "http://x"}}, **fields})


def test_conditions_judge_a_measurement_and_a_failure_condition_wins():
    rate = metric(successCondition="result < 0.05", failureCondition="result > 0.5")
    assert judge(rate, 0.01).phase == "Successful"
    assert judge(rate, 0.2).phase == "Failed"
    assert judge(rate, 0.9).message == "failureCondition 'result > 0.5' holds"
    assert judge(rate, None).phase == "Inconclusive"  # None < 0.05 cannot be evaluated


def test_without_conditions_a_detector_judges_by_its_state_and_a_value_by_being_there():
    plain = metric()
    assert judge(plain, {"anomalous": True, "active": 2}).phase == "Failed"
    assert judge(plain, {"anomalous": False, "active": 0}).phase == "Successful"
    assert judge(plain, None).phase == "Inconclusive"
    assert judge(plain, False).phase == "Failed" and judge(plain, True).phase == "Successful"


def test_a_metric_fails_past_its_failure_limit_and_succeeds_after_its_count():
    rule = metric(count=3, failureLimit=1)
    progress = MetricProgress()
    stamp = str
    for phase, expected in (("Failed", "Running"), ("Successful", "Running"), ("Successful", "Successful")):
        progress.record(Measurement(phase, 1), at=0.0, interval=5.0, stamp=stamp)
        assert progress.decide(rule, background=False) == expected
    progress.record(Measurement("Failed", 1), at=0.0, interval=5.0, stamp=stamp)
    assert progress.decide(rule, background=False) == "Failed"
    assert progress.next_at == 5.0 and len(progress.as_status("Failed")["measurements"]) == 4


def test_a_metric_whose_measurements_were_all_tolerated_misses_is_inconclusive_not_successful():
    rule = metric(count=3, inconclusiveLimit=5, failureLimit=1)
    progress = MetricProgress()
    for phase in ("Inconclusive", "Failed", "Inconclusive"):
        progress.record(Measurement(phase, None), at=0.0, interval=5.0, stamp=str)
    assert progress.decide(rule, background=False) == "Inconclusive"


def test_background_analysis_never_succeeds_it_only_watches():
    progress = MetricProgress()
    for _ in range(20):
        progress.record(Measurement("Successful", 1), at=0.0, interval=1.0, stamp=str)
    assert progress.decide(metric(count=3), background=True) == "Running"
