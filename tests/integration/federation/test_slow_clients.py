"""Slow clients against the real hub process: raw sockets that dribble a handshake or headers.

The hub runs with a 2 s TLS handshake bound and a 3 s header bound (``naksha.services.hub.site``),
in its own namespace; each test measures how long the hub keeps the connection open.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client
from tests.support import free_port
from tests.support.federation import NakshaProcess, start_hub

HANDSHAKE, HEADERS = 2.0, 3.0
SLACK = 10.0  # the machine is shared and loaded: the bound plus generous scheduling slack


class SlowHub:
    def __init__(self, process: NakshaProcess, port: int, ca: str) -> None:
        self.process, self.port, self.ca = process, port, ca

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=60)

    def tls(self) -> ssl.SSLSocket:
        context = ssl.create_default_context(cafile=self.ca)
        return context.wrap_socket(self.connect(), server_hostname="127.0.0.1")


@pytest.fixture(scope="module")
def hub(
    control_plane: Any,
    naksha_crds: None,
    api_client: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SlowHub]:
    namespace = f"slow-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    root = tmp_path_factory.mktemp("slow-clients")
    port = free_port()
    process = start_hub(
        root,
        Path(control_plane.kubeconfig_path),
        namespace,
        port,
        NAKSHA_HUB_HANDSHAKE_TIMEOUT=str(HANDSHAKE),
        NAKSHA_HUB_HEADER_TIMEOUT=str(HEADERS),
        NAKSHA_HUB_BODY_TIMEOUT="2",
    )
    try:
        yield SlowHub(process, port, str(root / "tls" / "tls.crt"))
    finally:
        process.stop()
        core.delete_namespace(namespace)


def held_open(sock: socket.socket, trickle: bytes = b"", every: float = 0.5) -> float:
    """Seconds until the peer closes ``sock``, sending ``trickle`` one byte every ``every`` s meanwhile."""
    started = time.monotonic()
    sock.settimeout(every)
    sent = 0
    while time.monotonic() - started < 60:
        if sent < len(trickle):
            try:
                sock.sendall(trickle[sent : sent + 1])
            except OSError:
                break
            sent += 1
        try:
            if sock.recv(4096) == b"":
                break
        except TimeoutError:
            continue
        except (OSError, ssl.SSLError):
            break
    return time.monotonic() - started


def test_a_client_that_never_finishes_its_tls_handshake_is_dropped(hub: SlowHub) -> None:
    with hub.connect() as raw:
        raw.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, and nothing more
        assert held_open(raw) < HANDSHAKE + SLACK


def test_a_client_that_dribbles_its_headers_is_dropped(hub: SlowHub) -> None:
    headers = b"POST /federation/heartbeat HTTP/1.1\r\nHost: hub\r\nX-Slow: " + b"a" * 200
    with hub.tls() as tls:
        elapsed = held_open(tls, trickle=headers)
    # Still dribbling when cut off: the hub did not wait for the headers to end.
    assert HEADERS - 1 < elapsed < HEADERS + SLACK


def test_an_idle_connection_is_dropped_after_the_header_bound(hub: SlowHub) -> None:
    with hub.tls() as tls:
        assert held_open(tls) < HEADERS + SLACK


def test_the_hub_still_answers_after_the_slow_clients(hub: SlowHub) -> None:
    with contextlib.ExitStack() as stack:
        # Many slow connections at once do not starve a well-behaved client.
        for _ in range(20):
            stack.enter_context(hub.tls()).sendall(b"POST /federation/heartbeat HTTP/1.1\r\n")
        answer = requests.get(f"https://127.0.0.1:{hub.port}/healthz", verify=hub.ca, timeout=30)
    assert answer.status_code == 200 and answer.json()["ok"] is True
