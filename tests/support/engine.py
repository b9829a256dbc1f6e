"""The AgentRun engine driven directly: a controlled clock, a run to its end, a Prometheus stand-in."""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.parse
from typing import Any

from naksha.controllers.agentrun.engine import Engine
from naksha.kube import Kube
from naksha.models.group import GROUP, VERSION
from naksha.models.resources import AGENT_RUNS


class Clock:
    """Time that moves only when the engine sleeps: verification windows pass instantly."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def create_run(custom: Any, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentRun", "metadata": {"name": name}, "spec": spec}
    return dict(custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "agentruns", body))


def run_to_end(kube: Kube, body: dict[str, Any], clock: Clock) -> dict[str, Any]:
    Engine(kube, body, clock=clock, sleep=clock.sleep).run_to_end()
    meta = body["metadata"]
    return dict(kube.get(AGENT_RUNS, meta["namespace"], meta["name"])["status"])


class PrometheusStandIn:
    """Answers /api/v1/query in Prometheus' documented format from a script of values.

    For value sequences on cue (high before an action, recovered after it), which a real server
    cannot give; the request and the reply follow the HTTP API's documented shape
    (``data.result[0].value = [ts, "text"]``). The real server's PromQL, errors and outages are
    tested in ``tests/integration/rollout/test_prometheus_analysis.py``.
    """

    def __init__(self, values: list[float]) -> None:
        self.values = values
        self.queries: list[str] = []
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                stand_in.queries += query.get("query", [])
                value = stand_in.values.pop(0) if len(stand_in.values) > 1 else stand_in.values[0]
                body = {
                    "status": "success",
                    "data": {
                        "resultType": "vector",
                        "result": [{"metric": {}, "value": [time.time(), str(value)]}],
                    },
                }
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:
                """Quiet: the server's access log would only clutter the test output."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
