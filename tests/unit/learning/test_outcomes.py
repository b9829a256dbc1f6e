"""Outcome records: strict parsing, malformed ones counted and skipped, labels from the loop's evidence."""

from __future__ import annotations

from typing import Any

import pytest

from naksha.domain.learning.outcomes import (
    MalformedRecord,
    dataset_hash,
    parse_outcome,
    parse_outcomes,
    record_from_agent_run,
)

GOOD = {"run": "ns/a", "finishedAt": "2026-11-28T10:00:00Z", "playbook": "restart", "resolved": True}


class TestParsing:
    def test_a_minimal_record_parses_with_its_time_in_epoch_seconds(self) -> None:
        outcome = parse_outcome(GOOD)
        assert outcome.playbook == "restart" and outcome.resolved
        assert outcome.finished_at == 1795860000.0

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"resolved": "yes"}, "resolved must be true or false"),
            ({"playbook": ""}, "playbook is required"),
            ({"finishedAt": "yesterday"}, "finishedAt is not an RFC 3339 time"),
            ({"finishedAt": None}, "finishedAt is required"),
            ({"label": "maybe"}, "label must be incident or false-positive"),
            ({"labels": {"a": 1}}, "labels must map strings to strings"),
            ({"propensity": 0}, "propensity must be in (0, 1]"),
            ({"timeToRecoverSeconds": -1}, "timeToRecoverSeconds must not be negative"),
            ({"timeToRecoverSeconds": float("nan")}, "timeToRecoverSeconds must be a finite number"),
        ],
    )
    def test_a_bad_field_is_named_in_the_error(self, change: dict[str, Any], reason: str) -> None:
        with pytest.raises(
            MalformedRecord, match=reason.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")
        ):
            parse_outcome({**GOOD, **change})

    def test_malformed_records_are_counted_by_reason_and_the_rest_kept_in_time_order(self) -> None:
        later = {**GOOD, "run": "ns/b", "finishedAt": "2026-11-28T11:00:00Z"}
        parsed = parse_outcomes([later, "not an object", {**GOOD, "resolved": None}, GOOD, {}])
        assert [o.run for o in parsed.outcomes] == ["ns/a", "ns/b"]
        assert parsed.malformed == 3
        assert parsed.reasons["record is not an object"] == 1

    def test_the_dataset_hash_depends_on_the_data_not_on_the_order_read(self) -> None:
        other = {**GOOD, "run": "ns/b"}
        first = parse_outcomes([GOOD, other]).outcomes
        second = parse_outcomes([other, GOOD]).outcomes
        assert dataset_hash(first) == dataset_hash(second)
        assert dataset_hash(first) != dataset_hash(parse_outcomes([GOOD]).outcomes)


class TestIncidentLabels:
    def test_a_run_that_acted_confirms_an_incident(self) -> None:
        assert parse_outcome({**GOOD, "acted": True}).incident == "incident"

    def test_a_run_that_found_nothing_to_do_marks_a_false_positive(self) -> None:
        assert parse_outcome({**GOOD, "acted": False}).incident == "false-positive"

    def test_a_human_label_wins_over_the_evidence(self) -> None:
        assert parse_outcome({**GOOD, "acted": True, "label": "false-positive"}).incident == "false-positive"


def agent_run(phase: str, **status: Any) -> dict[str, Any]:
    return {
        "kind": "AgentRun",
        "metadata": {"name": "r1", "namespace": "prod", "annotations": {}},
        "spec": {
            "playbookRef": {"name": "restart"},
            "signal": {
                "stream": "s",
                "detector": "latency",
                "series": {"pod": "p"},
                "detectedAt": "2026-11-28T10:00:00Z",
            },
            "target": {"kind": "Deployment", "name": "web"},
        },
        "status": {"phase": phase, "finishedAt": "2026-11-28T10:05:00Z", **status},
    }


class TestFromAgentRuns:
    def test_a_running_agent_run_has_no_outcome_yet(self) -> None:
        assert record_from_agent_run(agent_run("Running")) is None

    def test_a_finished_run_gives_a_record_that_parses(self) -> None:
        body = agent_run(
            "Succeeded", outcome={"resolved": True, "actions": ["a:restart"], "timeToRecoverSeconds": 42}
        )
        record = record_from_agent_run(body)
        assert record is not None
        outcome = parse_outcome(record)
        assert (outcome.run, outcome.detector, outcome.target_kind) == ("prod/r1", "latency", "Deployment")
        assert outcome.resolved and outcome.acted and outcome.time_to_recover == 42
        assert outcome.labels == (("pod", "p"),)

    def test_a_rejected_run_is_unresolved_and_did_not_act(self) -> None:
        record = record_from_agent_run(agent_run("Rejected", outcome={"resolved": False, "actions": []}))
        assert record is not None and record["resolved"] is False and record["acted"] is False

    def test_a_label_annotation_is_carried(self) -> None:
        body = agent_run("Succeeded", outcome={"resolved": True, "actions": ["x"]})
        body["metadata"]["annotations"]["naksha.io/label"] = "false-positive"
        record = record_from_agent_run(body)
        assert record is not None and record["label"] == "false-positive"

    def test_the_model_choice_is_recorded_for_attribution(self) -> None:
        body = agent_run(
            "Succeeded",
            outcome={"resolved": True, "actions": ["x"]},
            playbookChoice={"playbook": "restart", "modelVersion": "ranker-v3", "propensity": 0.5},
        )
        record = record_from_agent_run(body)
        assert record is not None and record["modelVersion"] == "ranker-v3" and record["propensity"] == 0.5

    def test_the_detector_tuner_version_that_fired_the_anomaly_is_recorded_for_attribution(self) -> None:
        body = agent_run("Succeeded", outcome={"resolved": True, "actions": ["x"]})
        body["metadata"]["annotations"]["naksha.io/detector-model-version"] = "tuner-v2"
        record = record_from_agent_run(body)
        assert record is not None and record["detectorModelVersion"] == "tuner-v2"
        assert parse_outcome(record).detector_model_version == "tuner-v2"
