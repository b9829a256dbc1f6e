"""TLS and mutual TLS on the operator's API port and the workers' ingest port, from Secret-shaped files.

A CA, a server certificate for 127.0.0.1 and a client certificate are made with openssl, laid out
as a ``kubernetes.io/tls`` Secret (``tls.crt``, ``tls.key``, ``ca.crt``) the way cert-manager
writes one.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from tests.support.agent_api import SECRET
from tests.support.fakes import ReviewingKube

from naksha.access import tls
from naksha.controllers.agentrun import api
from naksha.controllers.agentrun.api_auth import SharedSecretGate
from naksha.domain.agentrun import tokens
from naksha.models.insightstream import HttpSource
from naksha.services.insight.http_api import IngestOutcome, build_app
from naksha.services.insight.ingest_guard import IngestGuard
from naksha.services.insight.telemetry import WorkerMetrics


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        str(folder / "ca.key"),
        "-out",
        str(folder / "ca.crt"),
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
    )
    for name, extra in (("tls", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        openssl(
            "req",
            *ec,
            "-keyout",
            str(folder / f"{name}.key"),
            "-out",
            str(folder / f"{name}.csr"),
            "-subj",
            f"/CN={name}",
        )
        (folder / f"{name}.ext").write_text(extra + "\n")
        openssl(
            "x509", "-req", "-in", str(folder / f"{name}.csr"), "-CA", str(folder / "ca.crt"),
            "-CAkey", str(folder / "ca.key"), "-CAcreateserial", "-out", str(folder / f"{name}.crt"),
            "-days", "1", "-extfile", str(folder / f"{name}.ext"),
        )  # fmt: skip
    return folder


def client_context(pki: Path, *, certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if certificate:
        context.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    return context


async def test_the_agent_api_speaks_https_and_with_a_client_ca_refuses_clients_without_a_certificate(pki):
    agent_api = api.AgentApi(ReviewingKube(), SharedSecretGate(SECRET))
    runner, port = await api.serve(
        agent_api, "127.0.0.1", 0, tls=tls.server_context(str(pki), client_ca=str(pki / "ca.crt"))
    )
    url = f"https://127.0.0.1:{port}/healthz"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(url, ssl=client_context(pki, certificate=True)) as answer:
                assert answer.status == 200
            with pytest.raises(aiohttp.ClientError):
                async with session.get(url, ssl=client_context(pki, certificate=False)) as answer:
                    await answer.read()
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    await answer.read()
    finally:
        await runner.cleanup()


async def test_ingest_with_mtls_lets_probes_in_and_takes_pushes_only_with_a_client_certificate(pki):
    pushed: list[bytes] = []

    async def ingest(body: bytes) -> IngestOutcome:
        pushed.append(body)
        return IngestOutcome(accepted=1)

    settings = HttpSource.model_validate(
        {"auth": "none", "tlsSecretRef": {"name": "ingest-tls"}, "mtls": True}
    )
    guard = IngestGuard("shop", "checkout", settings)
    app = build_app(
        metrics=WorkerMetrics("checkout"),
        health=lambda: {"ok": True},
        ingest=ingest,
        max_body_bytes=4096,
        guard=guard,
    )
    context = tls.server_context(str(pki), client_ca=str(pki / "ca.crt"))
    context.verify_mode = ssl.CERT_OPTIONAL  # as the worker sets it with mtls
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=context)
    point = json.dumps({"metric": "m", "value": 1}).encode()
    base = f"https://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/health", ssl=client_context(pki, certificate=False)) as probe:
                assert probe.status == 200
            async with session.post(
                f"{base}/ingest", data=point, ssl=client_context(pki, certificate=False)
            ) as bare:
                assert bare.status == 401
                assert "client certificate" in (await bare.json())["error"]
            async with session.post(
                f"{base}/ingest", data=point, ssl=client_context(pki, certificate=True)
            ) as good:
                assert good.status == 202
    finally:
        await server.close()
    assert pushed == [point]


def test_a_missing_certificate_is_a_clear_configuration_error(tmp_path: Path):
    with pytest.raises(tls.TlsConfigError, match=r"tls\.crt"):
        tls.server_context(str(tmp_path))


def test_an_hs256_token_still_works_over_tls(pki: Path) -> None:
    async def scenario() -> Any:
        agent_api = api.AgentApi(ReviewingKube(), SharedSecretGate(SECRET))
        runner, port = await api.serve(agent_api, "127.0.0.1", 0, tls=tls.server_context(str(pki)))
        try:
            headers = {"Authorization": "Bearer " + tokens.mint(SECRET, "ci")}
            async with aiohttp.ClientSession() as session, session.get(
                f"https://127.0.0.1:{port}/agent/status/x", params={"namespace": "a"}, headers=headers,
                ssl=client_context(pki, certificate=False),
            ) as answer:  # fmt: skip
                return answer.status
        finally:
            await runner.cleanup()

    assert asyncio.run(scenario()) == 404
