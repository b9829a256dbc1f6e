"""The namespace fence on the control plane: no run reaches outside NAKSHA_AGENT_NAMESPACES or its fence.

The real operator serves every namespace but lets runs act only in ``ALLOWED``; ``EXCLUDED`` is a
namespace it serves and runs must not touch. Runs are created with the real kubectl (the engine
is the only check on those) and through the HTTP API (checked before anything is created, and
again by the engine).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client
from tests.support import Kubectl, eventually, free_port
from tests.support.agentruns import deployment

from naksha.domain.agentrun import tokens

SUFFIX = uuid.uuid4().hex[:6]
ALLOWED = f"fence-a-{SUFFIX}"
EXCLUDED = f"fence-b-{SUFFIX}"
SECRET = "an-api-secret-of-at-least-32-bytes!!"
API_PORT = free_port()
OPERATOR_ENV = {
    "NAKSHA_AGENT_NAMESPACES": ALLOWED,
    "NAKSHA_API_AUTH": "hs256",
    "NAKSHA_API_JWT_SECRET": SECRET,
    "NAKSHA_API_PORT": str(API_PORT),
}
BASE = f"http://127.0.0.1:{API_PORT}"
SCALE_GRAPH = {
    "start": "scale",
    "nodes": [
        {"name": "scale", "type": "act", "wpk": "scale", "params": {"delta": 3}, "next": "done"},
        {"name": "done", "type": "end"},
    ],
}


@pytest.fixture(scope="module")
def namespaces(api_client: client.ApiClient, naksha_operator: int) -> Iterator[client.AppsV1Api]:
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    for name in (ALLOWED, EXCLUDED):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        apps.create_namespaced_deployment(name, deployment("web", replicas=2))
    eventually(lambda: requests.get(f"{BASE}/healthz", timeout=2).ok)
    yield apps
    for name in (ALLOWED, EXCLUDED):
        core.delete_namespace(name)


def apply_run(kubectl: Kubectl, namespace: str, name: str, spec: dict[str, Any]) -> None:
    run = {
        "apiVersion": "naksha.io/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    kubectl("apply", "-f", "-", input=json.dumps(run))


def finished(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    def done() -> dict[str, Any]:
        run = json.loads(kubectl("get", "agentrun", name, "-n", namespace, "-o", "json").stdout)
        status = run.get("status") or {}
        assert status.get("phase") in ("Succeeded", "Failed", "Refused"), status
        return dict(status)

    return dict(eventually(done, timeout=30))


def replicas(apps: client.AppsV1Api, namespace: str) -> int:
    return int(apps.read_namespaced_deployment("web", namespace).spec.replicas)


def refusal(status: dict[str, Any]) -> str:
    return next(c["reason"] for c in status["conditions"] if c["type"] == "Refused")


class TestARunCreatedWithKubectl:
    def test_targeting_another_namespace_is_refused_and_that_namespace_is_untouched(
        self, namespaces, kubectl
    ):
        spec = {"graph": SCALE_GRAPH, "target": {"kind": "Deployment", "name": "web", "namespace": EXCLUDED}}
        apply_run(kubectl, ALLOWED, "reach-out", spec)
        status = finished(kubectl, ALLOWED, "reach-out")
        assert status["phase"] == "Refused"
        assert refusal(status) == "CrossNamespaceTarget"
        assert replicas(namespaces, EXCLUDED) == 2

    def test_in_a_namespace_the_operator_excludes_it_is_refused(self, namespaces, kubectl):
        apply_run(
            kubectl,
            EXCLUDED,
            "excluded",
            {"graph": SCALE_GRAPH, "target": {"kind": "Deployment", "name": "web"}},
        )
        status = finished(kubectl, EXCLUDED, "excluded")
        assert (status["phase"], refusal(status)) == ("Refused", "NamespaceNotAllowed")
        assert replicas(namespaces, EXCLUDED) == 2

    def test_a_playbook_whose_parameters_name_an_excluded_namespace_is_refused_before_it_reads(
        self, namespaces, kubectl
    ):
        graph = {
            "start": "look",
            "nodes": [
                {
                    "name": "look",
                    "type": "observe",
                    "wpk": "query-metric",
                    "params": {"stream": "s", "detector": "d", "streamNamespace": EXCLUDED},
                    "next": "scale",
                },
                *SCALE_GRAPH["nodes"],
            ],
        }
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "peek", "namespace": ALLOWED, "labels": {"naksha.io/playbook": "true"}},
            "data": {"playbook.yaml": yaml.safe_dump(graph)},
        }
        kubectl("apply", "-f", "-", input=json.dumps(config_map))
        apply_run(
            kubectl,
            ALLOWED,
            "peek",
            {"playbookRef": {"name": "peek"}, "target": {"kind": "Deployment", "name": "web"}},
        )
        status = finished(kubectl, ALLOWED, "peek")
        assert (status["phase"], refusal(status)) == ("Refused", "NamespaceNotAllowed")
        assert "streamNamespace" in status["message"]
        assert status.get("actions") in (None, {})


def post(body: dict[str, Any], fenced_to: list[str]) -> requests.Response:
    token = tokens.mint(SECRET, "ci", namespaces=fenced_to)
    return requests.post(
        f"{BASE}/agent/run", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def runs(api_client: client.ApiClient, namespace: str) -> list[str]:
    listed = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        "naksha.io", "v1alpha1", namespace, "agentruns"
    )
    return [item["metadata"]["name"] for item in listed["items"]]


class TestARunPostedToTheApi:
    def test_a_token_fenced_to_one_namespace_cannot_target_another_and_nothing_is_created(
        self, namespaces, api_client
    ):
        before = {ns: runs(api_client, ns) for ns in (ALLOWED, EXCLUDED)}
        target = {"kind": "Deployment", "name": "web", "namespace": EXCLUDED}
        loose = post({"namespace": ALLOWED, "spec": {"graph": SCALE_GRAPH}, "target": target}, [ALLOWED])
        whole = post({"namespace": ALLOWED, "spec": {"graph": SCALE_GRAPH, "target": target}}, [ALLOWED])
        assert (loose.status_code, whole.status_code) == (403, 403)
        assert "acts only in its own namespace" in whole.json()["error"]
        assert {ns: runs(api_client, ns) for ns in (ALLOWED, EXCLUDED)} == before
        assert replicas(namespaces, EXCLUDED) == 2

    def test_a_namespace_the_operator_excludes_is_refused_with_403_not_created(self, namespaces, api_client):
        body = {
            "namespace": EXCLUDED,
            "spec": {"graph": SCALE_GRAPH},
            "target": {"kind": "Deployment", "name": "web"},
        }
        answer = post(body, [ALLOWED, EXCLUDED])
        assert answer.status_code == 403
        assert EXCLUDED in answer.json()["error"]
        assert not [name for name in runs(api_client, EXCLUDED) if name.startswith("api-")]

    def test_a_run_inside_its_fence_is_created_and_acts(self, namespaces, kubectl):
        body = {
            "namespace": ALLOWED,
            "spec": {"graph": SCALE_GRAPH},
            "target": {"kind": "Deployment", "name": "web"},
        }
        answer = post(body, [ALLOWED])
        assert answer.status_code == 201, answer.text
        status = finished(kubectl, ALLOWED, answer.json()["name"])
        assert status["phase"] == "Succeeded", status["message"]
        assert replicas(namespaces, ALLOWED) == 5
