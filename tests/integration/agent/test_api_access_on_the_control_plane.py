"""Access control on the control plane: ServiceAccount tokens, RBAC and external JWTs, at both HTTP endpoints.

The real operator serves the AgentRun API with ``NAKSHA_API_AUTH=kubernetes`` and one external
issuer (RS256, JWKS in a file); a real insight worker serves ``POST /ingest`` with
``auth: kubernetes``. Callers' tokens come from the control plane's TokenRequest
(``kubectl create token``), their permissions from Roles and RoleBindings applied with kubectl,
and every verdict from the control plane's own TokenReview and SubjectAccessReview. Each refusal
is checked for its status and reason, and for having created or ingested nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from kubernetes import client, config
from tests.support import ROOT, Kubectl, eventually, free_port
from tests.support.agentruns import deployment
from tests.support.identities import service_account_token
from tests.support.workers import create_stream, worker_env

from naksha.kube import Kube
from naksha.services.insight.config import WorkerConfig
from naksha.services.insight.worker import InsightWorker

SUFFIX = uuid.uuid4().hex[:6]
TEAM, OTHER = f"acl-a-{SUFFIX}", f"acl-b-{SUFFIX}"
ISSUER = "https://ci.example.test"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
INTRUDER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ISSUERS_DIR = Path(tempfile.mkdtemp(prefix="naksha-issuers-"))
API_PORT = free_port()
OPERATOR_ENV = {
    "NAKSHA_API_AUTH": "kubernetes",
    "NAKSHA_API_PORT": str(API_PORT),
    "NAKSHA_API_JWT_ISSUERS_FILE": str(ISSUERS_DIR / "issuers.yaml"),
}
BASE = f"http://127.0.0.1:{API_PORT}"
SCALE = {
    "start": "scale",
    "nodes": [
        {"name": "scale", "type": "act", "wpk": "scale", "params": {"delta": 2}, "next": "done"},
        {"name": "done", "type": "end"},
    ],
}
ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {name}, namespace: {namespace}}}
rules: {rules}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {name}, namespace: {namespace}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {name}}}
subjects: [{subject}]
"""
RUNS = {"apiGroups": ["naksha.io"], "resources": ["agentruns"], "verbs": ["create", "get"]}
SCALING = {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}


def grant(
    kubectl: Kubectl, namespace: str, name: str, subject: dict[str, str], *rules: dict[str, Any]
) -> None:
    kubectl(
        "apply",
        "-f",
        "-",
        input=ROLE.format(
            name=name, namespace=namespace, rules=json.dumps(list(rules)), subject=json.dumps(subject)
        ),
    )


def service_account(kubectl: Kubectl, namespace: str, name: str, audience: str = "naksha") -> str:
    return service_account_token(kubectl, namespace, name, "--audience", audience)


def sa(namespace: str, name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def external(key: Any = KEY, algorithm: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "naksha", "sub": "deployer", "exp": now + 86_400, **claims}
    return jwt.encode(body, key, algorithm=algorithm, headers={"kid": "ci-1"})


def key_confusion() -> str:
    """HS256 keyed with the issuer's public key, which anyone may read."""
    import base64
    import hashlib
    import hmac

    public = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signing = (
        part({"alg": "HS256", "typ": "JWT", "kid": "ci-1"})
        + "."
        + part({"iss": ISSUER, "aud": "naksha", "sub": "deployer", "exp": int(time.time()) + 86_400})
    )
    mac = hmac.new(public, signing.encode(), hashlib.sha256).digest()
    return signing + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def issuers_file() -> None:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    (ISSUERS_DIR / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "ci-1", "alg": "RS256"}]}))
    document = {
        "issuers": [
            {
                "issuer": ISSUER,
                "audiences": ["naksha"],
                "algorithm": "RS256",
                "jwks": {"file": str(ISSUERS_DIR / "jwks.json")},
                "usernamePrefix": "ci:",
            }
        ]
    }
    (ISSUERS_DIR / "issuers.yaml").write_text(json.dumps(document))


@pytest.fixture(scope="module")
def tokens(
    issuers_file: None, naksha_operator: int, api_client: client.ApiClient, kubectl: Kubectl
) -> Iterator[dict[str, str]]:
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    for namespace in (TEAM, OTHER):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        apps.create_namespaced_deployment(namespace, deployment("web", replicas=1))
    found = {
        "nobody": service_account(kubectl, TEAM, "nobody"),
        "elsewhere": service_account(kubectl, TEAM, "elsewhere"),
        "runs-only": service_account(kubectl, TEAM, "runs-only"),
        "deployer": service_account(kubectl, TEAM, "deployer"),
        "other-audience": service_account(kubectl, TEAM, "stray", audience="https://kubernetes.default.svc"),
    }
    grant(kubectl, OTHER, "elsewhere", sa(TEAM, "elsewhere"), RUNS, SCALING)
    grant(kubectl, TEAM, "runs-only", sa(TEAM, "runs-only"), RUNS)
    grant(kubectl, TEAM, "deployer", sa(TEAM, "deployer"), RUNS, SCALING)
    grant(
        kubectl,
        TEAM,
        "ci-deployer",
        {"kind": "User", "name": "ci:deployer", "apiGroup": "rbac.authorization.k8s.io"},
        RUNS,
        SCALING,
    )
    eventually(lambda: requests.get(f"{BASE}/healthz", timeout=2).ok)
    yield found
    for namespace in (TEAM, OTHER):
        core.delete_namespace(namespace)


def runs(api_client: client.ApiClient, namespace: str) -> list[str]:
    listed = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        "naksha.io", "v1alpha1", namespace, "agentruns"
    )
    return [item["metadata"]["name"] for item in listed["items"]]


def post_run(token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"namespace": TEAM, "spec": {"graph": SCALE}, "target": {"kind": "Deployment", "name": "web"}}
    return requests.post(f"{BASE}/agent/run", json=body, headers=headers, timeout=10)


REFUSED_RUNS = [
    ("no token", None, 401, "missing bearer token"),
    ("a ServiceAccount without RBAC", "nobody", 403, "may not create agentruns"),
    ("RBAC in another namespace only", "elsewhere", 403, "may not create agentruns"),
    ("RBAC to create runs but not to scale the target", "runs-only", 403, "may not get deployments.apps"),
    ("a token bound to another audience", "other-audience", 401, "did not accept"),
    ("an expired external JWT", external(exp=int(time.time()) - 60), 401, "expired"),
    ("a forged external JWT", external(INTRUDER), 401, "Signature verification failed"),
    (
        "an alg none JWT",
        jwt.encode(
            {"iss": ISSUER, "aud": "naksha", "sub": "x", "exp": int(time.time()) + 86_400},
            None,
            algorithm="none",
        ),
        401,
        "pinned to RS256",
    ),
    ("an HS256 JWT keyed with the public key", key_confusion(), 401, "pinned to RS256"),
    ("a JWT from an unknown issuer", external(iss="https://unknown.example.test"), 401, "did not accept"),
]


@pytest.mark.parametrize(
    ("case", "who", "status", "reason"), REFUSED_RUNS, ids=[row[0] for row in REFUSED_RUNS]
)
def test_the_agent_api_refuses_with_the_right_status_and_creates_nothing(
    tokens, api_client, case, who, status, reason
):
    token = tokens.get(who, who) if who else None
    before = runs(api_client, TEAM)
    answer = post_run(token)
    assert answer.status_code == status, answer.text
    assert reason in answer.json()["error"]
    assert runs(api_client, TEAM) == before


@pytest.mark.parametrize("who", ["deployer", "external"])
def test_a_caller_whose_rbac_covers_the_run_starts_it_and_the_target_is_scaled(tokens, api_client, who):
    token = tokens["deployer"] if who == "deployer" else external()
    before = client.AppsV1Api(api_client).read_namespaced_deployment("web", TEAM).spec.replicas
    answer = post_run(token)
    assert answer.status_code == 201, answer.text
    name = answer.json()["name"]

    def succeeded() -> bool:
        status = requests.get(
            f"{BASE}/agent/status/{name}",
            params={"namespace": TEAM},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert status.status_code == 200
        assert status.json()["phase"] == "Succeeded", status.json()
        return True

    eventually(succeeded, timeout=30)
    assert client.AppsV1Api(api_client).read_namespaced_deployment("web", TEAM).spec.replicas == before + 2


def test_reading_a_run_needs_get_agentruns_in_its_namespace(tokens):
    headers = {"Authorization": f"Bearer {tokens['elsewhere']}"}
    answer = requests.get(f"{BASE}/agent/status/x", params={"namespace": TEAM}, headers=headers, timeout=10)
    assert answer.status_code == 403
    assert "may not get agentruns" in answer.json()["error"]


# --- POST /ingest ---------------------------------------------------------------------------------

STREAM_SPEC = {
    "source": {"type": "http", "http": {"auth": "kubernetes"}},
    "detectors": [
        {
            "name": "latency",
            "metric": "latency",
            "method": "threshold",
            "minSamples": 1,
            "params": {"threshold": {"above": 1.0}},
        }
    ],
}
INGEST = {"apiGroups": ["naksha.io"], "resources": ["insightstreams/ingest"], "verbs": ["create"]}


@contextlib.asynccontextmanager
async def running_worker(
    control_plane: Any, api_client: client.ApiClient, stream: str, port: int
) -> AsyncIterator[InsightWorker]:
    """A real insight worker for a new HTTP-push stream in TEAM, with auth kubernetes."""
    spec = {**STREAM_SPEC, "source": {"type": "http", "http": {"auth": "kubernetes", "port": port}}}
    create_stream(api_client, TEAM, stream, spec)
    kube = Kube(config.new_client_from_config(config_file=str(control_plane.kubeconfig_path)))
    worker = InsightWorker(
        WorkerConfig.from_env(worker_env(TEAM, stream, spec, port)), kube=kube, host="127.0.0.1"
    )
    task = asyncio.create_task(worker.run())
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"http://127.0.0.1:{port}/health") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    try:
        yield worker
    finally:
        worker.stop()
        await task
        client.CustomObjectsApi(api_client).delete_namespaced_custom_object(
            "naksha.io", "v1alpha1", TEAM, "insightstreams", stream
        )


@pytest.fixture
async def ingest_worker(
    tokens, control_plane, api_client, kubectl
) -> AsyncIterator[tuple[InsightWorker, dict[str, str]]]:
    port = free_port()
    stream = f"push-{port}"  # a fresh name: the last test's stream may still be finalizing
    found = {
        "no-rbac": service_account(kubectl, TEAM, f"pusher-none-{port}"),
        "other-namespace": service_account(kubectl, TEAM, f"pusher-other-{port}"),
        "other-stream": service_account(kubectl, TEAM, f"pusher-stream-{port}"),
        "pusher": service_account(kubectl, TEAM, f"pusher-{port}"),
        "other-audience": service_account(kubectl, TEAM, f"pusher-aud-{port}", audience="elsewhere"),
    }
    grant(kubectl, OTHER, f"pusher-other-{port}", sa(TEAM, f"pusher-other-{port}"), INGEST)
    grant(
        kubectl,
        TEAM,
        f"pusher-stream-{port}",
        sa(TEAM, f"pusher-stream-{port}"),
        {**INGEST, "resourceNames": ["another"]},
    )
    grant(kubectl, TEAM, f"pusher-{port}", sa(TEAM, f"pusher-{port}"), {**INGEST, "resourceNames": [stream]})
    async with running_worker(control_plane, api_client, stream, port) as worker:
        yield worker, found


async def test_the_documented_rbac_example_lets_its_pusher_push_into_its_stream_only(
    tokens, control_plane, api_client, kubectl
):
    text = (ROOT / "docs" / "insightstream.md").read_text()
    example = text.split("A ready example", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    kubectl("apply", "-f", "-", input=example.replace("namespace: shop", f"namespace: {TEAM}"))
    token = service_account_token(kubectl, TEAM, "telemetry-pusher", "--audience", "naksha")
    point = json.dumps({"metric": "latency", "value": 0.5}).encode()
    headers = {"Authorization": f"Bearer {token}"}
    for stream, expected in (("checkout-latency", 202), ("checkout-errors", 403)):
        async with (
            running_worker(control_plane, api_client, stream, free_port()) as worker,
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{worker.port}/ingest", data=point, headers=headers) as answer,
        ):
            assert answer.status == expected, await answer.text()


def ingested(worker: InsightWorker) -> float:
    labels = {"stream": worker.config.stream}
    return worker.metrics.registry.get_sample_value("naksha_insight_ingested_total", labels) or 0.0


REFUSED_PUSHES = [
    ("no token", None, 401, "missing bearer token"),
    ("a ServiceAccount without RBAC", "no-rbac", 403, "may not create insightstreams/ingest"),
    ("RBAC in another namespace only", "other-namespace", 403, "may not create insightstreams/ingest"),
    ("RBAC on another stream only", "other-stream", 403, "may not create insightstreams/ingest"),
    ("a token bound to another audience", "other-audience", 401, "did not accept"),
    ("an external JWT (not a cluster identity)", external(), 401, "did not accept"),
]


@pytest.mark.parametrize(
    ("case", "who", "status", "reason"), REFUSED_PUSHES, ids=[row[0] for row in REFUSED_PUSHES]
)
async def test_ingest_refuses_with_the_right_status_and_ingests_nothing(
    ingest_worker, case, who, status, reason
):
    worker, found = ingest_worker
    token = found.get(who, who) if who else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    point = json.dumps({"metric": "latency", "value": 5.0}).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{worker.port}/ingest", data=point, headers=headers) as answer,
    ):
        assert answer.status == status
        assert reason in (await answer.json())["error"]
    assert ingested(worker) == 0
    assert (
        worker.metrics.registry.get_sample_value(
            "naksha_insight_ingest_refused_total", {"stream": worker.config.stream, "code": str(status)}
        )
        == 1.0
    )


async def test_a_pusher_granted_this_stream_ingests(ingest_worker):
    worker, found = ingest_worker
    headers = {"Authorization": f"Bearer {found['pusher']}"}
    point = json.dumps({"metric": "latency", "value": 0.5}).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{worker.port}/ingest", data=point, headers=headers) as answer,
    ):
        assert answer.status == 202, await answer.text()
    assert ingested(worker) == 1


# --- the property, against the control plane's own RBAC ------------------------------------------

GRANTED = {  # what the Roles above grant each ServiceAccount: (namespace, verb, resource)
    "deployer": {(TEAM, "create", "agentruns"), (TEAM, "patch", "deployments"), (TEAM, "get", "deployments")},
    "elsewhere": {
        (OTHER, "create", "agentruns"),
        (OTHER, "patch", "deployments"),
        (OTHER, "get", "deployments"),
    },
    "runs-only": {(TEAM, "create", "agentruns")},
}
targets = st.fixed_dictionaries(
    {"kind": st.sampled_from(["Deployment", "Deployment", "Rollout"]), "name": st.just("web")},
    optional={"namespace": st.sampled_from([TEAM, OTHER])},
)
plans = st.one_of(
    st.fixed_dictionaries({"playbook": st.sampled_from(["restart-on-crash-loop", "scale-out-on-latency"])}),
    st.just({"spec": {"graph": SCALE}}),
)
bodies = st.builds(
    lambda namespace, plan, target: {"namespace": namespace, "dryRun": True, **plan, **target},
    st.sampled_from([TEAM, TEAM, OTHER]),
    plans,
    st.one_of(st.just({}), targets.map(lambda target: {"target": target})),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, who=st.sampled_from(sorted(GRANTED)))
def test_no_accepted_request_exceeds_what_rbac_grants_the_caller(tokens, api_client, body, who):
    before = {ns: runs(api_client, ns) for ns in (TEAM, OTHER)}
    headers = {"Authorization": f"Bearer {tokens[who]}"}
    answer = requests.post(f"{BASE}/agent/run", json=body, headers=headers, timeout=10)
    assert answer.status_code in (201, 400, 403), answer.text
    event(f"answered {answer.status_code}")
    after = {ns: runs(api_client, ns) for ns in (TEAM, OTHER)}
    if answer.status_code != 201:
        assert after == before
        return
    namespace = body["namespace"]
    assert (namespace, "create", "agentruns") in GRANTED[who]
    # Every playbook here patches a Deployment (restart, or scale on a Deployment target; scale
    # without a target would need Rollouts too, which nobody is granted).
    assert {(namespace, "get", "deployments"), (namespace, "patch", "deployments")} <= GRANTED[who]
    target = body.get("target")
    if target is not None:
        assert target["kind"] == "Deployment"
        assert target.get("namespace") in (None, namespace)


def test_the_documented_remediator_role_lets_its_deployer_start_the_builtin_playbooks(tokens, kubectl):
    text = (ROOT / "docs" / "agentrun.md").read_text()
    example = text.split("A ready Role for a CI deployer", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    example = example.replace("namespace: shop", f"namespace: {TEAM}").replace(
        "namespace: ci", f"namespace: {TEAM}"
    )
    kubectl("apply", "-f", "-", input=example.replace("name: deployer", "name: documented-deployer"))
    headers = {"Authorization": "Bearer " + service_account(kubectl, TEAM, "documented-deployer")}
    for playbook in ("scale-out-on-latency", "restart-on-crash-loop"):
        body = {
            "namespace": TEAM,
            "playbook": playbook,
            "target": {"kind": "Deployment", "name": "web"},
            "dryRun": True,
        }
        answer = requests.post(f"{BASE}/agent/run", json=body, headers=headers, timeout=10)
        assert answer.status_code == 201, answer.text
    elsewhere = requests.post(
        f"{BASE}/agent/run", json={**body, "namespace": OTHER}, headers=headers, timeout=10
    )
    assert elsewhere.status_code == 403
