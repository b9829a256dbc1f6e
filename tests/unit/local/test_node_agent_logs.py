"""The node agent's log server: what kube-apiserver proxies `kubectl logs` to, over mutual TLS."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import aiohttp
import pytest

from naksha.local.nodeagent.logs import LogServer
from naksha.local.real.pki import make_pki

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture
async def served(tmp_path: Path):
    pki = make_pki(tmp_path / "pki", node_name="local-node")
    (tmp_path / "pods" / "ns" / "p").mkdir(parents=True)
    (tmp_path / "pods" / "ns" / "p" / "main.log").write_text("one\ntwo\nthree\n")
    server = LogServer(tmp_path, serving=(pki.node_serving.cert, pki.node_serving.key), client_ca=pki.ca.cert)
    await server.start()
    yield server, pki
    await server.stop()


async def test_the_api_servers_client_certificate_reads_a_containers_log_tail(served):
    server, pki = served
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    context.load_cert_chain(str(pki.apiserver_kubelet_client.cert), str(pki.apiserver_kubelet_client.key))
    async with aiohttp.ClientSession() as session:
        url = f"https://127.0.0.1:{server.port}/containerLogs/ns/p/main"
        async with session.get(url, params={"tailLines": "2"}, ssl=context) as response:
            assert response.status == 200 and await response.text() == "two\nthree\n"
        async with session.get(url.replace("/main", "/absent"), ssl=context) as response:
            assert response.status == 200 and await response.text() == ""  # a simulated container
        async with session.get(url.replace("/ns/p/", "/ns/gone/"), ssl=context) as response:
            assert response.status == 404


async def test_a_client_without_a_certificate_of_the_cluster_is_refused(served):
    server, pki = served
    context = ssl.create_default_context(cafile=str(pki.ca.cert))  # trusts the server, shows no certificate
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"https://127.0.0.1:{server.port}/containerLogs/ns/p/main", ssl=context):
                pass
