"""The notify webhook is delivered at least once, and a repeat carries the same Idempotency-Key.

The receiver takes the first POST and holds its answer; the operator is killed (its whole process
group) while it waits, so the notice was received but its result never recorded. After the
restart the run POSTs the same notice again, with the same key, and succeeds.
"""

from __future__ import annotations

import http.server
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from tests.support import eventually
from tests.support.agentruns import run_status
from tests.support.operators import kill_group, start_operator

from naksha.models.group import GROUP, VERSION


class Receiver:
    """Records every POST; holds the answer to the first until ``release``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": json.loads(body)})
                if len(receiver.received) == 1:
                    receiver.release.wait(timeout=60)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.release.set()
    receiver.server.shutdown()
    receiver.server.server_close()


def test_a_notice_received_before_a_kill_is_posted_again_with_the_same_idempotency_key(
    control_plane, api_client, naksha_crds, fresh_namespace, tmp_path: Path, receiver: Receiver
):
    custom = client.CustomObjectsApi(api_client)
    graph = {
        "start": "page",
        "nodes": [
            {
                "name": "page",
                "type": "act",
                "wpk": "notify",
                "params": {"reason": "Paged", "message": "checkout is slow", "webhook": receiver.url},
                "next": "done",
            },
            {"name": "done", "type": "end"},
        ],
    }
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AgentRun",
        "metadata": {"name": "page"},
        "spec": {"graph": graph},
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "agentruns", body)
    log = tmp_path / "operator.log"
    first = start_operator(control_plane.kubeconfig_path, fresh_namespace, log)
    try:
        eventually(lambda: receiver.received, timeout=60)  # received; the answer is held
    finally:
        kill_group(first)
    receiver.release.set()

    second = start_operator(control_plane.kubeconfig_path, fresh_namespace, log)
    try:
        status = eventually(
            lambda: (s := run_status(custom, fresh_namespace, "page")).get("phase") == "Succeeded" and s,
            timeout=60,
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert len(receiver.received) == 2  # at least once: here exactly twice
    first_post, repeat = receiver.received
    key = next(iter(status["actions"]))
    assert first_post["headers"]["Idempotency-Key"] == repeat["headers"]["Idempotency-Key"] == key
    assert (
        first_post["body"]
        == repeat["body"]
        == {
            "run": "page",
            "namespace": fresh_namespace,
            "reason": "Paged",
            "message": "checkout is slow",
        }
    )
    events = client.CoreV1Api(api_client).list_namespaced_event(
        fresh_namespace, field_selector="involvedObject.name=page"
    )
    assert [e.reason for e in events.items].count("Paged") == 1  # the Event is posted once
