"""The playbook ranker learns which playbook resolves which context, explores, and is evaluated honestly."""

from __future__ import annotations

import random

import pytest
from tests.support.learning import RESOLVE, context_history

from naksha.domain.learning import ranker as ranking
from naksha.domain.learning.outcomes import parse_outcomes
from naksha.domain.learning.split import time_split
from naksha.domain.learning.training import TrainingError, train


class TestQuality:
    def test_the_ranker_beats_the_single_best_fixed_playbook_on_a_context_dependent_history(self) -> None:
        result = train("playbook-ranker", {}, parse_outcomes(context_history(3000)), 0.3)
        assert result.evaluation["method"] == "replay"
        ranker_rate = result.metrics["resolved-rate"]
        fixed_rate = result.baseline_metrics["resolved-rate"]
        assert ranker_rate is not None and fixed_rate is not None
        assert ranker_rate > fixed_rate + 0.25  # ~0.85 against ~0.48 with these probabilities
        assert result.evaluation["matched"] > 200  # the figure rests on enough replayed runs

    def test_it_picks_each_contexts_best_playbook(self) -> None:
        outcomes = parse_outcomes(context_history(3000)).outcomes
        model = ranking.PlaybookRanker().fit(outcomes)
        for detector, rates in RESOLVE.items():
            assert model.best(f"{detector}|Deployment") == max(rates, key=rates.__getitem__)

    def test_ips_is_used_when_every_record_carries_its_propensity(self) -> None:
        result = train("playbook-ranker", {}, parse_outcomes(context_history(2000, propensity=True)), 0.3)
        assert result.evaluation["method"] == "ips"
        assert result.metrics["resolved-rate"] > result.baseline_metrics["resolved-rate"]  # type: ignore[operator]

    def test_the_oracle_bounds_the_ranker_from_above(self) -> None:
        result = train("playbook-ranker", {}, parse_outcomes(context_history(3000)), 0.3)
        assert result.metrics["resolved-rate"] <= result.evaluation["oracleResolvedRate"]  # type: ignore[operator]


class TestExploration:
    def test_a_new_playbook_gets_tried_and_a_bad_one_fades(self) -> None:
        outcomes = parse_outcomes(context_history(600)).outcomes
        model = ranking.PlaybookRanker().fit([o for o in outcomes if o.detector == "errors"])
        rng = random.Random(3)
        picks = [
            model.choose("errors|Deployment", ["rollback", "restart", "brand-new"], rng) for _ in range(2000)
        ]
        assert 0 < picks.count("brand-new") < picks.count("rollback")
        assert picks.count("restart") < picks.count("brand-new")  # known-bad is tried less than unknown

    def test_choice_probabilities_sum_to_one(self) -> None:
        model = ranking.PlaybookRanker().fit(parse_outcomes(context_history(300)).outcomes)
        probabilities = model.choice_probabilities(
            "latency|Deployment", ["restart", "rollback"], random.Random(1)
        )
        assert sum(probabilities.values()) == pytest.approx(1.0)
        assert probabilities["restart"] > probabilities["rollback"]


class TestArtifact:
    def test_a_ranker_survives_its_artifact(self) -> None:
        model = ranking.PlaybookRanker().fit(parse_outcomes(context_history(500)).outcomes)
        again = ranking.PlaybookRanker.from_artifact(model.to_artifact())
        assert again.rank("latency|Deployment") == model.rank("latency|Deployment")

    @pytest.mark.parametrize("artifact", [{"algorithm": "detector-tuner"}, {"algorithm": "playbook-ranker"}])
    def test_a_foreign_or_broken_artifact_is_refused(self, artifact: dict[str, str]) -> None:
        with pytest.raises(ValueError):
            ranking.PlaybookRanker.from_artifact(artifact)


class TestEvaluation:
    def test_replay_counts_only_runs_whose_logged_playbook_the_policy_chose(self) -> None:
        outcomes = parse_outcomes(context_history(300)).outcomes
        _, holdout = time_split(outcomes, 0.5, lambda o: o.finished_at)
        result = ranking.evaluate(ranking.fixed_policy("restart"), holdout)
        restart = [o for o in holdout if o.playbook == "restart"]
        assert result.matched == len(restart)
        assert result.resolved_rate == pytest.approx(sum(o.resolved for o in restart) / len(restart))

    def test_an_empty_holdout_has_no_figure(self) -> None:
        assert ranking.evaluate(ranking.fixed_policy("x"), []).resolved_rate is None

    def test_the_holders_figure_is_measured_on_the_same_holdout(self) -> None:
        data = parse_outcomes(context_history(1000))
        holder = ranking.PlaybookRanker().fit(data.outcomes[:100]).to_artifact()
        result = train("playbook-ranker", {}, data, 0.3, holder_artifact=holder)
        assert result.holder_metrics is not None and result.holder_metrics["resolved-rate"] is not None


class TestParams:
    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"contextFields": ["colour"]}, "contextFields"),
            ({"priorStrength": -1}, "priorStrength"),
            ({"candidates": "restart"}, "candidates"),
            ({"learningRate": 1}, "unknown trainer params: learningRate"),
        ],
    )
    def test_a_bad_param_is_named(self, params: dict[str, object], message: str) -> None:
        with pytest.raises(TrainingError, match=message):
            train("playbook-ranker", params, parse_outcomes(context_history(50)), 0.3)

    def test_a_label_can_be_part_of_the_context(self) -> None:
        records = context_history(200)
        for record in records:
            record["labels"] = {"tier": "web"}
        result = train("playbook-ranker", {"contextFields": ["label:tier"]}, parse_outcomes(records), 0.3)
        assert list(result.artifact["arms"]) == ["web"]
