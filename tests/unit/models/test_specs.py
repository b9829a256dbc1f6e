"""Specs that break a rule are refused with a reason a user can act on; samples are accepted."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from naksha.models import KINDS_BY_NAME
from naksha.reconcilers.admission import describe_validation_error

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = {
    doc["kind"]: doc
    for doc in (yaml.safe_load(p.read_text()) for p in (ROOT / "crds/samples").glob("*.yaml"))
}


def reason_for(kind: str, spec: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        KINDS_BY_NAME[kind].spec_model.model_validate(spec)
    return describe_validation_error(caught.value)


def sample_spec(kind: str) -> dict:
    return copy.deepcopy(SAMPLES[kind]["spec"])


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_sample_is_accepted(kind):
    KINDS_BY_NAME[kind].spec_model.model_validate(SAMPLES[kind]["spec"])


class TestInsightStreamRules:
    def test_a_kafka_source_without_its_kafka_block_is_refused(self):
        reason = reason_for("InsightStream", {"source": {"type": "kafka"}})
        assert reason == "spec.source: source.type is 'kafka' but source.kafka is missing"

    def test_a_trigger_naming_an_unknown_detector_is_refused(self):
        spec = sample_spec("InsightStream")
        spec["triggers"][0]["detector"] = "nope"
        assert "trigger 'scale-out' names unknown detector 'nope'" in reason_for("InsightStream", spec)

    def test_duplicate_detector_names_are_refused(self):
        spec = sample_spec("InsightStream")
        spec["detectors"].append(dict(spec["detectors"][0]))
        assert "detector names must be unique: p99-latency" in reason_for("InsightStream", spec)

    def test_a_threshold_detector_needs_a_bound(self):
        spec = {
            "source": {"type": "http"},
            "detectors": [{"name": "d", "metric": "m", "method": "threshold", "params": {"threshold": {}}}],
        }
        assert "threshold needs above, below or both" in reason_for("InsightStream", spec)

    def test_a_redis_source_needs_exactly_one_url(self):
        spec = {"source": {"type": "redis", "redis": {"stream": "s"}}}
        assert "exactly one of url or urlSecretRef" in reason_for("InsightStream", spec)

    def test_a_malformed_duration_names_the_field(self):
        spec = sample_spec("InsightStream")
        spec["detectors"][0]["cooldown"] = "two minutes"
        assert reason_for("InsightStream", spec).startswith("spec.detectors.0.cooldown: String should match")

    def test_an_unknown_field_is_named(self):
        spec = sample_spec("InsightStream")
        spec["replicaz"] = 3
        assert reason_for("InsightStream", spec) == "spec.replicaz: unknown field"


class TestAgentRunRules:
    def test_a_run_needs_exactly_one_plan(self):
        spec = sample_spec("AgentRun")
        spec["playbookRef"] = {"name": "scale-out-on-latency"}
        assert "exactly one of playbookRef or graph must be set" in reason_for("AgentRun", spec)

    def test_an_edge_to_an_unknown_node_is_refused(self):
        spec = sample_spec("AgentRun")
        spec["graph"]["nodes"][0]["next"] = "nowhere"
        assert "node 'observe' leads to unknown node 'nowhere'" in reason_for("AgentRun", spec)

    def test_an_act_node_needs_a_work_package(self):
        spec = sample_spec("AgentRun")
        del spec["graph"]["nodes"][2]["wpk"]
        assert "node 'act' of type act needs a wpk" in reason_for("AgentRun", spec)


class TestChaosExperimentRules:
    def test_a_bad_cron_schedule_says_which_field(self):
        spec = sample_spec("ChaosExperiment")
        spec["schedule"] = "0 25 * * *"
        assert "cron hour value 25 is outside 0-23" in reason_for("ChaosExperiment", spec)

    def test_a_fixed_mode_needs_a_value(self):
        spec = sample_spec("ChaosExperiment")
        spec["target"]["mode"] = "fixed-percent"
        assert "target.mode fixed-percent needs target.value" in reason_for("ChaosExperiment", spec)


class TestRolloutRules:
    def test_a_step_with_two_actions_is_refused(self):
        spec = sample_spec("Rollout")
        spec["strategy"]["canary"]["steps"][0]["pause"] = {}
        assert "exactly one of setWeight, pause, analysis" in reason_for("Rollout", spec)

    def test_a_selector_that_misses_the_template_labels_is_refused(self):
        spec = sample_spec("Rollout")
        spec["selector"]["matchLabels"] = {"app": "other"}
        assert "selector label app=other does not match template.metadata.labels" in reason_for(
            "Rollout", spec
        )

    def test_a_metric_needs_exactly_one_provider(self):
        spec = sample_spec("Rollout")
        spec["strategy"]["canary"]["steps"][1]["analysis"]["metrics"][0]["provider"] = {}
        assert "exactly one of prometheus, insight, http, job" in reason_for("Rollout", spec)


class TestEdgeAndModelRules:
    def test_an_edge_node_needs_an_identity(self):
        assert reason_for("EdgeNode", {}) == "spec.identity: Required value"

    def test_an_unknown_trainer_algorithm_lists_the_allowed_ones(self):
        spec = sample_spec("ModelVersion")
        spec["trainer"]["algorithm"] = "magic"
        assert "'detector-tuner' or 'playbook-ranker'" in reason_for("ModelVersion", spec)
