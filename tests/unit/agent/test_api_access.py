"""The AgentRun API in kubernetes mode: who may start and read runs is RBAC's answer, for every kind of token.

The real API (aiohttp on loopback) over an in-memory API server that answers TokenReviews and
SubjectAccessReviews from a table of tokens and grants. External issuers sign with real RSA,
EC and Ed25519 keys; one publishes its JWKS in a file, one on a loopback URL.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.agent_api import ServedApi
from tests.support.fakes import ReviewingKube

from naksha.access import issuers
from naksha.access.reviews import Authenticator, Authorizer
from naksha.controllers.agentrun import api
from naksha.controllers.agentrun.api_auth import KubernetesGate
from naksha.errors import RetryableError
from naksha.kube import KubeError

NS, OTHER = "team-a", "team-b"
WEB = {"kind": "Deployment", "name": "web"}
SCALE = {"namespace": NS, "playbook": "restart-on-crash-loop", "target": WEB}
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
INTRUDER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CI, PAGER, EDGE = "https://ci.example.test", "https://pager.example.test", "https://edge.example.test"


def jwk(key: Any, algorithm: str, kid: str) -> dict[str, Any]:
    found = json.loads(jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(key.public_key()))
    return {**found, "kid": kid, "alg": algorithm, "use": "sig"}


def external(key: Any, algorithm: str, kid: str, issuer: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": issuer, "aud": "naksha", "sub": "deployer", "iat": now, "exp": now + 86_400, **claims}
    return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid})


class JwksServer(http.server.ThreadingHTTPServer):
    """Serves one JWKS document on loopback, as an issuer's discovery endpoint would."""

    def __init__(self, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def kube() -> ReviewingKube:
    kube = ReviewingKube()
    kube.tokens = {
        "sa-nobody": ("system:serviceaccount:team-a:nobody", ("system:serviceaccounts",), ("naksha",)),
        "sa-elsewhere": ("system:serviceaccount:team-b:ci", (), ("naksha",)),
        "sa-runs-only": ("system:serviceaccount:team-a:runner", (), ("naksha",)),
        "sa-operator": ("system:serviceaccount:team-a:ops", (), ("naksha",)),
        "sa-api-server-audience": (
            "system:serviceaccount:team-a:ops",
            (),
            ("https://kubernetes.default.svc",),
        ),
    }
    for verb in ("create", "get"):
        kube.grant("system:serviceaccount:team-b:ci", OTHER, verb, "naksha.io/agentruns")
        kube.grant("system:serviceaccount:team-a:runner", NS, verb, "naksha.io/agentruns")
    for user in ("system:serviceaccount:team-a:ops", f"{CI}#deployer", "pager:deployer"):
        for verb, resource in (("create", "agentruns"), ("get", "agentruns")):
            kube.grant(user, NS, verb, f"naksha.io/{resource}")
        for verb in ("get", "patch"):
            kube.grant(user, NS, verb, "apps/deployments")
    kube.grant("edge-operators", NS, "create", "naksha.io/agentruns")
    return kube


@pytest.fixture(scope="module")
def served(kube: ReviewingKube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApi]:
    folder = tmp_path_factory.mktemp("issuers")
    (folder / "ci.json").write_text(json.dumps({"keys": [jwk(RSA_KEY, "RS256", "ci-1")]}))
    pager_jwks = JwksServer({"keys": [jwk(EC_KEY, "ES256", "pager-1")]})
    document = {
        "issuers": [
            {
                "issuer": CI,
                "audiences": ["naksha"],
                "algorithm": "RS256",
                "jwks": {"file": str(folder / "ci.json")},
            },
            {
                "issuer": PAGER,
                "audiences": ["naksha"],
                "algorithm": "ES256",
                "jwks": {"url": f"http://127.0.0.1:{pager_jwks.server_address[1]}/jwks"},
                "usernamePrefix": "pager:",
            },
            {
                "issuer": EDGE,
                "audiences": ["naksha"],
                "algorithm": "EdDSA",
                "jwks": {"file": str(folder / "edge.json")},
                "usernamePrefix": "edge:",
                "groupsClaim": "groups",
            },
        ]
    }
    (folder / "edge.json").write_text(json.dumps({"keys": [jwk(ED_KEY, "EdDSA", "edge-1")]}))
    (folder / "issuers.yaml").write_text(json.dumps(document))
    gate = KubernetesGate(
        Authenticator(kube, audiences=["naksha"], issuers=issuers.load(str(folder / "issuers.yaml"))),
        Authorizer(kube),
    )
    server = ServedApi(api.AgentApi(kube, gate))
    yield server
    server.close()
    pager_jwks.shutdown()


def call(served: ServedApi, token: str | None, body: dict[str, Any] | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is None:
        return requests.get(
            f"{served.base}/agent/status/x", params={"namespace": NS}, headers=headers, timeout=10
        )
    return requests.post(f"{served.base}/agent/run", json=body, headers=headers, timeout=10)


def hs256_with_public_key() -> str:
    """Key confusion: an HS256 token whose secret is the issuer's public key (which anyone can read)."""
    public = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64
    import hashlib
    import hmac

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    signing = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': 'ci-1'})}." + part(
        {"iss": CI, "aud": "naksha", "sub": "deployer", "exp": now + 86_400}
    )
    mac = hmac.new(public, signing.encode(), hashlib.sha256).digest()
    return signing + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def unsigned() -> str:
    return jwt.encode(
        {"iss": CI, "aud": "naksha", "sub": "deployer", "exp": int(time.time()) + 86_400},
        None,
        algorithm="none",
    )


MATRIX = [
    ("no token", None, 401, "missing bearer token"),
    ("a ServiceAccount without RBAC", "sa-nobody", 403, "may not create agentruns"),
    (
        "RBAC in another namespace only",
        "sa-elsewhere",
        403,
        "may not create agentruns.naksha.io in namespace team-a",
    ),
    ("RBAC to create runs, not to act on the target", "sa-runs-only", 403, "may not get deployments.apps"),
    ("a token bound to the API server's audience", "sa-api-server-audience", 401, "did not accept"),
    (
        "a JWT from an unknown issuer",
        external(RSA_KEY, "RS256", "ci-1", "https://unknown.test"),
        401,
        "did not accept",
    ),
    (
        "an expired external JWT",
        external(RSA_KEY, "RS256", "ci-1", CI, exp=int(time.time()) - 60),
        401,
        "expired",
    ),
    (
        "a not-yet-valid external JWT",
        external(RSA_KEY, "RS256", "ci-1", CI, nbf=int(time.time()) + 86_400),
        401,
        "nbf",
    ),
    (
        "a forged external JWT",
        external(INTRUDER_KEY, "RS256", "ci-1", CI),
        401,
        "Signature verification failed",
    ),
    ("an alg none JWT", unsigned(), 401, "pinned to RS256"),
    ("an HS256 JWT keyed with the public key", hs256_with_public_key(), 401, "pinned to RS256"),
    (
        "an external JWT for another audience",
        external(RSA_KEY, "RS256", "ci-1", CI, aud="other"),
        401,
        "audience",
    ),
    (
        "an external JWT naming a system: group",
        external(ED_KEY, "EdDSA", "edge-1", EDGE, groups=["system:masters"]),
        401,
        "system:",
    ),
    (
        "an external JWT whose groups lack the act RBAC",
        external(ED_KEY, "EdDSA", "edge-1", EDGE, groups=["edge-operators"]),
        403,
        "may not get deployments",
    ),
]


@pytest.mark.parametrize(("case", "token", "status", "reason"), MATRIX, ids=[row[0] for row in MATRIX])
def test_a_refused_caller_gets_the_right_status_and_reason_and_nothing_is_created(
    served, kube, case, token, status, reason
):
    before = len(kube.created)
    answer = call(served, token, SCALE)
    assert answer.status_code == status, answer.text
    assert reason in answer.json()["error"]
    assert len(kube.created) == before
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "token",
    [
        "sa-operator",
        external(RSA_KEY, "RS256", "ci-1", CI),
        external(EC_KEY, "ES256", "pager-1", PAGER),
    ],
    ids=[
        "ServiceAccount with RBAC",
        "RS256 issuer from a JWKS file",
        "ES256 issuer from a loopback JWKS URL",
    ],
)
def test_a_caller_with_the_rbac_starts_a_run_and_reads_it(served, kube, token):
    created = call(served, token, SCALE)
    assert created.status_code == 201, created.text
    name = created.json()["name"]
    status = requests.get(
        f"{served.base}/agent/status/{name}",
        params={"namespace": NS},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert status.status_code == 200


def test_reading_a_run_needs_get_agentruns_in_its_namespace(served):
    assert call(served, None).status_code == 401
    refused = call(served, "sa-elsewhere")
    assert refused.status_code == 403
    assert "may not get agentruns" in refused.json()["error"]
    assert call(served, "sa-runs-only").status_code == 404  # allowed; there is no run x


def test_reviews_are_reused_while_fresh(served, kube):
    call(served, "sa-operator", SCALE)
    token_reviews, access_reviews = kube.token_reviews, kube.access_reviews
    for _ in range(5):
        assert call(served, "sa-operator", SCALE).status_code == 201
    assert (kube.token_reviews, kube.access_reviews) == (token_reviews, access_reviews)


class TestTheCaches:
    def test_an_answer_expires_after_its_ttl_and_is_asked_again(self, kube):
        now = [0.0]
        authenticator = Authenticator(kube, audiences=["naksha"], ttl=5, clock=lambda: now[0])
        before = kube.token_reviews
        authenticator.authenticate("Bearer sa-operator")
        authenticator.authenticate("Bearer sa-operator")
        now[0] = 6.0
        authenticator.authenticate("Bearer sa-operator")
        assert kube.token_reviews - before == 2

    def test_the_cache_keeps_at_most_its_bound(self, kube):
        authorizer = Authorizer(kube, ttl=60, max_entries=3)
        identity = Authenticator(kube, audiences=["naksha"]).authenticate("Bearer sa-operator")
        from naksha.access.reviews import Access

        for index in range(10):
            authorizer.allowed(identity, f"ns-{index}", Access("get", "", "pods"))
        assert len(authorizer.cache) == 3


class TestTheIssuersDocument:
    @pytest.mark.parametrize("algorithm", ["HS256", "none", None, "RS1"])
    def test_a_symmetric_or_missing_algorithm_is_refused(self, algorithm):
        with pytest.raises(issuers.IssuerConfigError, match="not an asymmetric one"):
            issuers.parse_issuer(
                {"issuer": CI, "audiences": ["naksha"], "algorithm": algorithm, "jwks": {"file": "x"}}
            )

    def test_a_plain_http_jwks_url_off_loopback_is_refused(self):
        with pytest.raises(issuers.IssuerConfigError, match="must be https"):
            issuers.parse_issuer(
                {
                    "issuer": CI,
                    "audiences": ["naksha"],
                    "algorithm": "RS256",
                    "jwks": {"url": "http://keys.example.test"},
                }
            )

    def test_a_jwks_from_a_secret_is_read_through_the_kubernetes_api(self, kube):
        import base64

        document = json.dumps({"keys": [jwk(RSA_KEY, "RS256", "ci-1")]}).encode()
        kube.objects[("secrets", "naksha", "ci-keys")] = {
            "data": {"jwks.json": base64.b64encode(document).decode()}
        }
        issuer = issuers.parse_issuer(
            {
                "issuer": CI,
                "audiences": ["naksha"],
                "algorithm": "RS256",
                "jwks": {"secret": {"namespace": "naksha", "name": "ci-keys", "key": "jwks.json"}},
            },
            kube,
        )
        identity = issuers.Issuers([issuer]).verify(external(RSA_KEY, "RS256", "ci-1", CI))
        assert identity.user == f"{CI}#deployer"


# --- the property: an accepted request is one the caller could have done themselves -----------

bodies = st.fixed_dictionaries(
    {"namespace": st.sampled_from([NS, NS, OTHER])},
    optional={
        "playbook": st.sampled_from(
            ["restart-on-crash-loop", "scale-out-on-latency", "cordon-unhealthy-edge"]
        ),
        "target": st.fixed_dictionaries(
            {"kind": st.sampled_from(["Deployment", "Rollout", "EdgeNode"]), "name": st.just("web")},
            optional={"namespace": st.sampled_from([NS, OTHER])},
        ),
        "spec": st.fixed_dictionaries(
            {}, optional={"playbookRef": st.fixed_dictionaries({"name": st.just("restart-on-crash-loop")})}
        ),
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, token=st.sampled_from(["sa-operator", "sa-runs-only", "sa-elsewhere", "sa-nobody"]))
def test_no_accepted_request_acts_beyond_the_callers_own_rbac(served, kube, body, token):
    before = len(kube.created)
    answer = call(served, token, body)
    assert answer.status_code in (201, 400, 403), answer.text
    if answer.status_code != 201:
        assert len(kube.created) == before
        return
    run = kube.created[-1]
    user = kube.tokens[token][0]
    namespace = run["metadata"]["namespace"]
    assert (user, namespace, "create", "naksha.io/agentruns") in kube.grants
    target = run["spec"].get("target")
    assert target is None or target.get("namespace") in (None, namespace)
    if target is not None and target["kind"] == "Deployment":
        assert (user, namespace, "patch", "apps/deployments") in kube.grants


def test_a_missing_issuers_document_is_a_configuration_error(tmp_path: Path):
    with pytest.raises(issuers.IssuerConfigError):
        issuers.load(str(tmp_path / "missing.yaml"))


class TestWhenTheClusterCannotAnswer:
    @pytest.fixture
    def served_by(self) -> Iterator[Any]:
        servers: list[ServedApi] = []

        def serve(fake: ReviewingKube) -> ServedApi:
            gate = KubernetesGate(Authenticator(fake, audiences=["naksha"]), Authorizer(fake))
            servers.append(ServedApi(api.AgentApi(fake, gate)))
            return servers[-1]

        yield serve
        for server in servers:
            server.close()

    def test_an_unreachable_cluster_is_a_503_with_retry_after_and_nothing_is_created(self, served_by):
        class Unreachable(ReviewingKube):
            def create(self, body: Any) -> dict[str, Any]:
                if body.get("kind") == "TokenReview":
                    raise RetryableError("connection refused")
                return super().create(body)

        fake = Unreachable()
        answer = call(served_by(fake), "sa-operator", SCALE)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "5"
        assert fake.created == []

    def test_an_operator_without_the_review_rbac_says_what_it_lacks(self, served_by):
        class Forbidding(ReviewingKube):
            def create(self, body: Any) -> dict[str, Any]:
                if body.get("kind") == "TokenReview":
                    raise KubeError(403, "Forbidden", "tokenreviews is forbidden")
                return super().create(body)

        answer = call(served_by(Forbidding()), "sa-operator", SCALE)
        assert answer.status_code == 403
        assert "needs create tokenreviews" in answer.json()["error"]


def test_a_repeated_signal_shows_the_first_run_only_to_a_caller_who_may_read_runs(served, kube):
    kube.grant("system:serviceaccount:team-a:creator", NS, "create", "naksha.io/agentruns")
    kube.grant("system:serviceaccount:team-a:creator", NS, "get", "apps/deployments")
    kube.grant("system:serviceaccount:team-a:creator", NS, "patch", "apps/deployments")
    kube.tokens["sa-creator"] = ("system:serviceaccount:team-a:creator", (), ("naksha",))
    body = {**SCALE, "signalId": "incident-9"}
    assert call(served, "sa-creator", body).status_code == 201
    again = call(served, "sa-creator", body)
    assert again.status_code == 403
    assert "may not get agentruns" in again.json()["error"]
    assert call(served, "sa-operator", body).json()["duplicate"] is True


def test_an_accepted_token_is_not_cached_past_its_own_expiry(kube):
    soon = jwt.encode({"sub": "x", "exp": int(time.time()) + 2}, "k" * 32, algorithm="HS256")
    kube.tokens[soon] = ("system:serviceaccount:team-a:ops", (), ("naksha",))
    authenticator = Authenticator(kube, audiences=["naksha"], ttl=60)
    authenticator.authenticate(f"Bearer {soon}")
    assert len(authenticator.cache) == 1
    time.sleep(2.1)
    before = kube.token_reviews
    authenticator.authenticate(f"Bearer {soon}")  # the fake still accepts it; the point is it was asked again
    assert kube.token_reviews == before + 1


def test_an_issuer_whose_keys_cannot_be_read_makes_its_tokens_wait_not_fail(tmp_path):
    from naksha.access.identity import ReviewUnavailable

    issuer = issuers.parse_issuer(
        {
            "issuer": CI,
            "audiences": ["naksha"],
            "algorithm": "RS256",
            "jwks": {"file": str(tmp_path / "gone.json")},
        }
    )
    with pytest.raises(ReviewUnavailable, match="cannot be read"):
        issuers.Issuers([issuer]).verify(external(RSA_KEY, "RS256", "ci-1", CI))
