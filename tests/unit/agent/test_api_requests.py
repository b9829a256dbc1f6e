"""A POST /agent/run body becomes the AgentRun it describes, or a 400 with the spec's own reason."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from naksha.controllers.agentrun.api import RunRequest


def test_a_playbook_request_becomes_an_agent_run_with_a_generated_name():
    manifest = RunRequest.model_validate(
        {
            "namespace": "prod",
            "playbook": "scale-out-on-latency",
            "target": {"kind": "Deployment", "name": "web"},
        }
    ).manifest(received_at=0)
    assert manifest["metadata"]["generateName"] == "api-"
    assert manifest["metadata"]["namespace"] == "prod"
    assert manifest["spec"]["playbookRef"] == {"name": "scale-out-on-latency"}
    assert manifest["spec"]["target"]["name"] == "web"


def test_a_signal_id_names_the_run_so_a_retry_finds_the_first_one():
    body = {"playbook": "p", "signalId": "incident-42"}
    first = RunRequest.model_validate(body).manifest(received_at=0)
    again = RunRequest.model_validate(body).manifest(received_at=99)
    other = RunRequest.model_validate({**body, "namespace": "other"}).manifest(received_at=0)
    assert first["metadata"]["name"] == again["metadata"]["name"]
    assert first["metadata"]["name"] != other["metadata"]["name"]
    assert first["spec"]["signal"]["dedupeKey"] == "incident-42"


def test_a_telemetry_point_becomes_the_runs_signal():
    manifest = RunRequest.model_validate(
        {"playbook": "p", "telemetry": {"metric": "latency_ms", "value": 950, "labels": {"route": "/"}}}
    ).manifest(received_at=1_700_000_000)
    signal = manifest["spec"]["signal"]
    assert signal["series"] == {"__name__": "latency_ms", "route": "/"}
    assert signal["value"] == 950
    assert signal["detectedAt"] == "2023-11-14T22:13:20Z"
    assert signal["source"] == "api"


def test_a_request_without_a_playbook_or_graph_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="exactly one of playbookRef or graph"):
        RunRequest.model_validate({"namespace": "prod"}).manifest(received_at=0)


@pytest.mark.parametrize(
    "body",
    [
        {"playbook": "p", "unknown": 1},
        {"playbook": "p", "telemetry": {"metric": "m", "value": "high"}},
        {"playbook": "p", "telemetry": {"metric": "m", "value": float("nan")}},
        {"playbook": "p", "namespace": ""},
    ],
)
def test_a_malformed_body_is_refused(body):
    with pytest.raises(ValidationError):
        RunRequest.model_validate(body)
