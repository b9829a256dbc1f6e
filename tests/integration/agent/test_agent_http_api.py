"""The operator's AgentRun HTTP API starts runs and reports them, to callers with a valid token only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from tests.support import eventually, free_port

from naksha.domain.agentrun import tokens

SECRET = "an-api-secret-of-at-least-32-bytes!!"
API_PORT = free_port()
OPERATOR_ENV = {"NAKSHA_API_AUTH": "hs256", "NAKSHA_API_JWT_SECRET": SECRET, "NAKSHA_API_PORT": str(API_PORT)}
BASE = f"http://127.0.0.1:{API_PORT}"
WAIT_GRAPH = {
    "start": "pause",
    "nodes": [
        {"name": "pause", "type": "observe", "wpk": "wait", "params": {"duration": "10ms"}, "next": "done"},
        {"name": "done", "type": "end"},
    ],
}


def bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + tokens.mint(SECRET, "ci", **claims)}


class Api(requests.Session):
    """A session whose paths are relative to the operator's API."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return super().request(method, f"{BASE}{url!s}", *args, **kwargs)


@pytest.fixture(scope="module")
def api(naksha_operator: int) -> Iterator[Api]:
    with Api() as http:

        def up() -> bool:
            try:
                return http.get("/healthz").status_code == 200
            except requests.ConnectionError:
                return False  # the operator is still starting

        eventually(up)
        yield http


def start(api: Api, namespace: str, **body: Any) -> requests.Response:
    return api.post(
        "/agent/run", json={"namespace": namespace, "spec": {"graph": WAIT_GRAPH}, **body}, headers=bearer()
    )


def test_a_posted_run_is_created_and_its_status_reports_it_finished(api, fresh_namespace):
    created = start(api, fresh_namespace)
    assert created.status_code == 201, created.text
    name = created.json()["name"]
    assert name.startswith("api-")

    def finished() -> dict[str, Any]:
        answer = api.get(f"/agent/status/{name}", params={"namespace": fresh_namespace}, headers=bearer())
        assert answer.status_code == 200
        assert answer.json()["phase"] == "Succeeded", answer.json()["message"]
        return dict(answer.json())

    status = eventually(finished)
    assert status["outcome"]["resolved"] is True
    assert status["steps"] == 2


def test_the_same_signal_id_returns_the_first_run_instead_of_a_second(api, fresh_namespace):
    first = start(api, fresh_namespace, signalId="incident-7")
    again = start(api, fresh_namespace, signalId="incident-7")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["name"] == first.json()["name"]
    assert again.json()["duplicate"] is True


def test_a_telemetry_payload_becomes_the_runs_signal(api, fresh_namespace, api_client):
    from kubernetes import client

    created = start(
        api, fresh_namespace, telemetry={"metric": "latency_ms", "value": 950.0, "timestamp": time.time()}
    )
    assert created.status_code == 201
    run = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        "naksha.io", "v1alpha1", fresh_namespace, "agentruns", created.json()["name"]
    )
    assert run["spec"]["signal"]["series"] == {"__name__": "latency_ms"}
    assert run["spec"]["signal"]["value"] == 950.0


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing bearer token"),
        ({"Authorization": "Bearer " + tokens.mint("f" * 40, "intruder")}, "Signature verification failed"),
        ({"Authorization": "Bearer " + tokens.mint(SECRET, "ci", now=time.time() - 7200)}, "expired"),
    ],
)
def test_a_request_without_a_valid_token_gets_401_and_creates_nothing(api, fresh_namespace, headers, reason):
    answer = api.post("/agent/run", json={"namespace": fresh_namespace, "playbook": "p"}, headers=headers)
    assert answer.status_code == 401
    assert reason in answer.json()["error"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert (
        api.get("/agent/status/x", params={"namespace": fresh_namespace}, headers=headers).status_code == 401
    )


def test_a_token_without_the_scope_or_namespace_gets_403(api, fresh_namespace):
    body = {"namespace": fresh_namespace, "playbook": "p"}
    reader = api.post("/agent/run", json=body, headers=bearer(scopes=("agent:read",)))
    fenced = api.post("/agent/run", json=body, headers=bearer(namespaces=["elsewhere"]))
    writer = api.get(
        "/agent/status/x", params={"namespace": fresh_namespace}, headers=bearer(scopes=("agent:run",))
    )
    assert (reader.status_code, fenced.status_code, writer.status_code) == (403, 403, 403)
    assert "agent:run" in reader.json()["error"]


def test_a_malformed_request_gets_400_with_the_reason(api, fresh_namespace):
    not_json = api.post("/agent/run", data=b"{", headers=bearer())
    no_plan = api.post("/agent/run", json={"namespace": fresh_namespace}, headers=bearer())
    unknown = api.post("/agent/run", json={"playbook": "p", "colour": "red"}, headers=bearer())
    assert (not_json.status_code, no_plan.status_code, unknown.status_code) == (400, 400, 400)
    assert "exactly one of playbookRef or graph" in no_plan.json()["error"]
    assert "colour" in unknown.json()["error"]


def test_an_unknown_run_gets_404(api, fresh_namespace):
    answer = api.get("/agent/status/nope", params={"namespace": fresh_namespace}, headers=bearer())
    assert answer.status_code == 404
