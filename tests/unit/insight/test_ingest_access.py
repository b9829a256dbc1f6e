"""POST /ingest answers 401/403/413/429 with reasons, ingests nothing when it refuses, and counts refusals.

The worker's real aiohttp app, in front of a recording ingest function, over an in-memory API
server answering TokenReviews and SubjectAccessReviews (``create insightstreams/ingest``).
"""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from tests.support.fakes import ReviewingKube

from naksha.access import tls
from naksha.errors import RetryableError
from naksha.models.insightstream import HttpSource
from naksha.services.insight.http_api import IngestOutcome, build_app
from naksha.services.insight.ingest_guard import IngestGuard, RateLimiter
from naksha.services.insight.telemetry import WorkerMetrics

NS, STREAM = "shop", "checkout"
PRODUCER = "system:serviceaccount:shop:producer"


def kube() -> ReviewingKube:
    fake = ReviewingKube()
    fake.tokens = {
        "producer": (PRODUCER, (), ("naksha",)),
        "stranger": ("system:serviceaccount:shop:stranger", (), ("naksha",)),
        "other-stream": ("system:serviceaccount:shop:other", (), ("naksha",)),
        "wrong-audience": (PRODUCER, (), ("https://kubernetes.default.svc",)),
    }
    fake.grant(PRODUCER, NS, "create", "naksha.io/insightstreams/ingest")
    fake.grant("system:serviceaccount:shop:other", "elsewhere", "create", "naksha.io/insightstreams/ingest")
    return fake


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, body: bytes) -> IngestOutcome:
        self.bodies.append(body)
        return IngestOutcome(accepted=1)


async def client_for(
    settings: HttpSource, fake: ReviewingKube
) -> tuple[TestClient[Any, Any], Recorder, WorkerMetrics]:
    recorder, metrics = Recorder(), WorkerMetrics(STREAM)
    guard = IngestGuard(NS, STREAM, settings, fake)
    app = build_app(metrics=metrics, health=dict, ingest=recorder, max_body_bytes=2048, guard=guard)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client, recorder, metrics


def refused(metrics: WorkerMetrics, code: int) -> float:
    return (
        metrics.registry.get_sample_value(
            "naksha_insight_ingest_refused_total", {"stream": STREAM, "code": str(code)}
        )
        or 0.0
    )


POINT = json.dumps({"metric": "m", "value": 1}).encode()


@pytest.mark.parametrize(
    ("token", "status", "reason"),
    [
        (None, 401, "missing bearer token"),
        ("forged", 401, "did not accept"),
        ("wrong-audience", 401, "not accept"),
        ("stranger", 403, "may not create insightstreams/ingest.naksha.io checkout in namespace shop"),
        ("other-stream", 403, "may not create"),
    ],
)
async def test_a_push_without_the_right_to_ingest_is_refused_and_nothing_is_ingested(token, status, reason):
    client, recorder, metrics = await client_for(HttpSource(), kube())
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client:
        answer = await client.post("/ingest", data=POINT, headers=headers)
        assert answer.status == status
        assert reason in (await answer.json())["error"]
    assert recorder.bodies == []
    assert refused(metrics, status) == 1


async def test_a_producer_with_the_rbac_pushes_and_its_reviews_are_cached():
    fake = kube()
    client, recorder, _ = await client_for(HttpSource(), fake)
    async with client:
        for _ in range(3):
            answer = await client.post("/ingest", data=POINT, headers={"Authorization": "Bearer producer"})
            assert answer.status == 202
    assert len(recorder.bodies) == 3
    assert (fake.token_reviews, fake.access_reviews) == (1, 1)


async def test_a_too_large_body_from_an_allowed_producer_is_413_and_counted():
    client, recorder, metrics = await client_for(HttpSource(), kube())
    async with client:
        answer = await client.post("/ingest", data=b"x" * 4096, headers={"Authorization": "Bearer producer"})
        assert answer.status == 413
    assert recorder.bodies == []
    assert refused(metrics, 413) == 1


async def test_a_producer_over_its_rate_gets_429_with_retry_after():
    settings = HttpSource.model_validate({"rateLimit": {"requestsPerSecond": 1, "burst": 2}})
    client, recorder, metrics = await client_for(settings, kube())
    async with client:
        codes = [
            (await client.post("/ingest", data=POINT, headers={"Authorization": "Bearer producer"})).status
            for _ in range(3)
        ]
        last = await client.post("/ingest", data=POINT, headers={"Authorization": "Bearer producer"})
        assert last.headers["Retry-After"] == "1"
    assert codes == [202, 202, 429]
    assert len(recorder.bodies) == 2
    assert refused(metrics, 429) == 2


async def test_with_auth_none_anyone_may_push_within_the_rate():
    client, recorder, _ = await client_for(HttpSource(auth="none"), kube())
    async with client:
        assert (await client.post("/ingest", data=POINT)).status == 202
    assert len(recorder.bodies) == 1


def test_the_rate_limiter_refills_and_keeps_a_bounded_number_of_clients():
    now = [0.0]
    limiter = RateLimiter(2.0, 1, clock=lambda: now[0])
    assert limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] = 0.5
    assert limiter.take("a") == 0


def test_mtls_needs_a_tls_secret():
    with pytest.raises(ValueError, match=r"http\.mtls needs http\.tlsSecretRef"):
        HttpSource.model_validate({"mtls": True})


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed pair in the layout of a kubernetes.io/tls Secret."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(folder / "tls.key"), "-out", str(folder / "tls.crt"), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return folder


async def test_the_ingest_port_speaks_tls_with_the_secrets_certificate(certificate):
    metrics = WorkerMetrics(STREAM)
    recorder = Recorder()
    guard = IngestGuard(NS, STREAM, HttpSource(), kube())
    app = build_app(metrics=metrics, health=dict, ingest=recorder, max_body_bytes=2048, guard=guard)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=tls.server_context(str(certificate)))
    trusted = ssl.create_default_context(cafile=str(certificate / "tls.crt"))
    client = TestClient(server)
    async with client:
        answer = await client.post(
            "/ingest", data=POINT, headers={"Authorization": "Bearer producer"}, ssl=trusted
        )
        assert answer.status == 202
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            await client.post("/ingest", data=POINT, ssl=ssl.create_default_context())
    assert len(recorder.bodies) == 1


class UnreachableKube(ReviewingKube):
    def create(self, body: Any) -> dict[str, Any]:
        raise RetryableError("connection refused")


async def test_when_the_cluster_cannot_review_the_push_is_503_with_retry_after_and_not_ingested():
    client, recorder, metrics = await client_for(HttpSource(), UnreachableKube())
    async with client:
        answer = await client.post("/ingest", data=POINT, headers={"Authorization": "Bearer producer"})
        assert answer.status == 503
        assert answer.headers["Retry-After"] == "5"
    assert recorder.bodies == []
    assert refused(metrics, 503) == 1


async def test_a_sender_of_bad_tokens_is_slowed_down_before_more_reviews_are_asked():
    fake = kube()
    settings = HttpSource.model_validate({"rateLimit": {"requestsPerSecond": 1, "burst": 2}})
    client, recorder, metrics = await client_for(settings, fake)
    async with client:
        codes = [
            (await client.post("/ingest", data=POINT, headers={"Authorization": f"Bearer forged-{i}"})).status
            for i in range(4)
        ]
    assert codes == [401, 401, 429, 429]
    assert fake.token_reviews == 2
    assert recorder.bodies == []
    assert (refused(metrics, 401), refused(metrics, 429)) == (2, 2)
