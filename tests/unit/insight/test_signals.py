"""An anomaly names its AgentRun deterministically, so each incident starts one run."""

from __future__ import annotations

import pytest

from naksha.domain.insight.detectors import Anomaly
from naksha.domain.insight.signals import agent_run_manifest, dedupe_key
from naksha.models.agentrun import AgentRunSpec
from naksha.models.insightstream import Trigger
from naksha.models.labels import DEDUPE_LABEL


def anomaly(started_at: float = 1_000.0, labels=(("svc", "api"),)) -> Anomaly:
    return Anomaly("latency", "threshold", "http_seconds", labels, 3.0, 2.0, started_at, started_at, 0.0)


TRIGGER = Trigger.model_validate(
    {
        "name": "scale-out",
        "detector": "latency",
        "agentRun": {
            "playbook": "scale-out-on-latency",
            "target": {"kind": "Deployment", "name": "checkout"},
        },
        "debounce": "5m",
    }
)


def test_a_replay_of_the_same_incident_gets_the_same_key():
    assert dedupe_key("ns", "s", "t", anomaly(1_000.0), 300) == dedupe_key(
        "ns", "s", "t", anomaly(1_000.0), 300
    )


def test_incidents_in_the_same_debounce_window_share_a_key_and_later_ones_do_not():
    first = dedupe_key("ns", "s", "t", anomaly(1_000.0), 300)
    assert dedupe_key("ns", "s", "t", anomaly(1_100.0), 300) == first
    assert dedupe_key("ns", "s", "t", anomaly(1_300.0), 300) != first


def test_other_series_and_other_streams_get_other_keys():
    key = dedupe_key("ns", "s", "t", anomaly(), 300)
    assert dedupe_key("ns", "s", "t", anomaly(labels=(("svc", "web"),)), 300) != key
    assert dedupe_key("ns", "other", "t", anomaly(), 300) != key


def test_the_agent_run_carries_the_signal_and_validates_against_the_agent_run_model():
    key = dedupe_key("ns", "checkout-latency", "scale-out", anomaly(), 300)
    run = agent_run_manifest("ns", "checkout-latency", TRIGGER, anomaly(), key)
    assert run["metadata"]["name"] == f"checkout-latency-scale-out-{key[:12]}"
    assert run["metadata"]["labels"][DEDUPE_LABEL] == key[:63]
    spec = AgentRunSpec.model_validate(run["spec"])
    assert spec.playbook_ref is not None and spec.playbook_ref.name == "scale-out-on-latency"
    assert spec.target is not None and spec.target.name == "checkout"
    assert spec.signal.series == {"__name__": "http_seconds", "svc": "api"}
    assert (spec.signal.value, spec.signal.dedupe_key) == (3.0, key)


def test_a_template_that_is_no_valid_agent_run_is_refused_with_the_reason():
    no_plan = Trigger.model_validate({"name": "t", "detector": "latency", "agentRun": {}})
    with pytest.raises(ValueError, match="playbookRef or graph"):
        agent_run_manifest("ns", "s", no_plan, anomaly(), "k" * 64)


def test_the_agent_run_names_the_tuned_version_whose_parameters_fired_it_and_only_then():
    key = dedupe_key("ns", "checkout-latency", "scale-out", anomaly(), 300)
    tuned = agent_run_manifest("ns", "checkout-latency", TRIGGER, anomaly(), key, "latency-tuner-v3")
    assert tuned["metadata"]["annotations"]["naksha.io/detector-model-version"] == "latency-tuner-v3"
    plain = agent_run_manifest("ns", "checkout-latency", TRIGGER, anomaly(), key)
    assert "naksha.io/detector-model-version" not in plain["metadata"]["annotations"]
