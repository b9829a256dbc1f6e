"""The local kubelet's readiness probes: HTTP and HTTPS httpGet (certificates unverified, as a kubelet's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from tests.support import free_port

from naksha.local.apiserver.pki import CertificateAuthority
from naksha.local.kubelet.readiness import check as _check
from naksha.local.network.pods import HOST_ADDRESS, PodNetwork

HOST = PodNetwork(HOST_ADDRESS, reason="HostNetwork", message="on the host's loopback")


@pytest.fixture
async def https_port(tmp_path: Path) -> AsyncIterator[int]:
    """A server answering /health over TLS with a certificate of a CA nobody trusts."""
    app = web.Application()
    app.router.add_get("/health", lambda _: web.Response(text="ok"))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    context = CertificateAuthority().server_context(tmp_path, hosts=("127.0.0.1",))
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    yield port
    await runner.cleanup()


async def test_an_https_probe_passes_against_a_certificate_nobody_trusts(https_port: int) -> None:
    probe = {"httpGet": {"path": "/health", "port": https_port, "scheme": "HTTPS"}}
    assert await _check(probe, HOST)


async def test_a_plain_http_probe_fails_against_a_tls_port(https_port: int) -> None:
    assert not await _check({"httpGet": {"path": "/health", "port": https_port}}, HOST)
