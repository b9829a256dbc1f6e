"""The Prometheus analysis provider and the ``query-metric`` work package against a real Prometheus.

A ``naksha demo-app`` with an exact error rate (every fourth request fails) and a fixed latency
serves steady traffic; the session's Prometheus scrapes it every second, and the queries are the
PromQL users write: an error ratio from ``rate()`` over the request counters, a latency quantile
with ``histogram_quantile``, ``sum by``. A query that does not parse and a server that is down
are measured too: both are inconclusive measurements with Prometheus' reason, never a crash.
An insight worker's own ``/metrics`` are scraped and queried the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support import ROOT, eventually, free_port
from tests.support.demo_app import demo_app, status_of
from tests.support.engine import Clock, create_run, run_to_end

from naksha.controllers.rollout.measurement import measure
from naksha.domain.rollout.analysis import MetricProgress
from naksha.models.rollout import AnalysisMetric

JOB = "demo-analysis"
ERROR_RATIO = (
    f'(sum(rate(demo_http_requests_total{{job="{JOB}",code=~"5.."}}[5s])) or vector(0))'
    f' / sum(rate(demo_http_requests_total{{job="{JOB}"}}[5s]))'
)
P90_LATENCY = (
    "histogram_quantile(0.9, sum by (le) "
    f'(rate(demo_http_request_duration_seconds_bucket{{job="{JOB}"}}[5s])))'
)


class Traffic:
    """GETs a URL back to back in a thread until stopped: the steady load the analyses read."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                urllib.request.urlopen(self.url, timeout=5).read()
            except urllib.error.HTTPError:
                pass  # the configured share of 500s is the point
            except OSError:
                self._stop.wait(0.1)
            self.sent += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def scraped_demo_app(prometheus_server: Any) -> Iterator[Any]:
    """A demo-app failing exactly 25% of requests in ~20 ms, under load, scraped by Prometheus."""
    with demo_app(NAKSHA_DEMO_VERSION="v7", NAKSHA_DEMO_ERROR_RATE="0.25", NAKSHA_DEMO_LATENCY="20ms") as url:
        traffic = Traffic(url)
        prometheus_server.set_targets(JOB, [url.removeprefix("http://")], {"job": JOB})
        try:
            # Enough scrapes for a 5 s rate(): a value comes back once two samples are in the window.
            eventually(lambda: value_of(prometheus_server, ERROR_RATIO) is not None, timeout=30, interval=0.5)
            yield prometheus_server
        finally:
            prometheus_server.remove_targets(JOB)
            traffic.stop()


def value_of(prometheus: Any, query: str) -> float | None:
    result = prometheus.api("query", query=query)["data"]["result"]
    return float(result[1] if isinstance(result[0], float) else result[0]["value"][1]) if result else None


def metric(address: str, query: str, **extra: Any) -> AnalysisMetric:
    return AnalysisMetric.model_validate(
        {"name": "m", "provider": {"prometheus": {"address": address, "query": query}}, **extra}
    )


def measured(address: str, query: str, **extra: Any) -> Any:
    # The Prometheus provider reads no Kubernetes object: no API client is needed to measure.
    return measure(None, "ns", "rollout", metric(address, query, **extra), "run", {})  # type: ignore[arg-type]


def test_the_error_ratio_from_rate_over_the_counters_is_the_apps_error_rate(scraped_demo_app):
    measurement = measured(scraped_demo_app.url, ERROR_RATIO, failure_condition="result > 0.05")
    assert measurement.phase == "Failed"
    assert measurement.result == pytest.approx(0.25, abs=0.03)
    assert "failureCondition 'result > 0.05' holds" in measurement.message


def test_a_latency_quantile_from_the_histogram_buckets_reflects_the_served_latency(scraped_demo_app):
    measurement = measured(scraped_demo_app.url, P90_LATENCY, success_condition="result < 0.5")
    assert measurement.phase == "Successful"
    # 20 ms of sleep plus the request's own time: inside the 0.01-0.05 s buckets, interpolated.
    assert 0.02 <= measurement.result <= 0.05


def test_sum_by_a_label_filtered_to_one_series_is_a_value_and_several_series_are_inconclusive(
    scraped_demo_app,
):
    one = measured(
        scraped_demo_app.url, f'sum by (code) (rate(demo_http_requests_total{{job="{JOB}",code="500"}}[5s]))'
    )
    assert one.phase == "Successful" and one.result > 0
    several = measured(
        scraped_demo_app.url, f'sum by (code) (rate(demo_http_requests_total{{job="{JOB}"}}[5s]))'
    )
    assert several.phase == "Inconclusive"
    assert "the query returned 2 series; reduce it to one" in several.message


def test_a_query_that_does_not_parse_is_inconclusive_with_prometheus_reason(scraped_demo_app):
    measurement = measured(scraped_demo_app.url, "sum(rate(demo_http_requests_total[5s])")
    assert measurement.phase == "Inconclusive"
    assert "prometheus refused the query (bad_data, HTTP 400)" in measurement.message
    assert "parse error" in measurement.message
    # The server is unharmed and the next (valid) measurement works.
    assert measured(scraped_demo_app.url, ERROR_RATIO).phase == "Successful"


def test_a_query_over_no_series_is_inconclusive_for_want_of_a_value(scraped_demo_app):
    measurement = measured(scraped_demo_app.url, 'sum(rate(demo_http_requests_total{job="nobody"}[5s]))')
    assert (measurement.phase, measurement.message) == ("Inconclusive", "no value")


def test_a_server_that_is_down_is_inconclusive_and_measured_again_until_the_limit():
    address = f"http://127.0.0.1:{free_port()}"
    down = metric(address, ERROR_RATIO, count=3, inconclusive_limit=1, interval="5s")
    progress = MetricProgress()
    first = measure(None, "ns", "rollout", down, "run", {})  # type: ignore[arg-type]
    assert first.phase == "Inconclusive" and "Connection refused" in first.message
    progress.record(first, 100.0, 5.0, str)
    # Within the limit the metric keeps running: the next measurement is due one interval later.
    assert progress.decide(down, background=False) == "Running" and progress.next_at == 105.0
    progress.record(measure(None, "ns", "rollout", down, "run", {}), 105.0, 5.0, str)  # type: ignore[arg-type]
    assert progress.decide(down, background=False) == "Inconclusive"


def query_graph(address: str, query: str) -> dict[str, Any]:
    observe = {"prometheus": address, "query": query, "above": 0.1}
    return {
        "start": "observe",
        "nodes": [
            {
                "name": "observe",
                "type": "observe",
                "wpk": "query-metric",
                "params": observe,
                "next": "decide",
            },
            {
                "name": "decide",
                "type": "decide",
                "edges": [{"when": "state.anomalous", "to": "failing"}, {"to": "quiet"}],
            },
            {"name": "failing", "type": "end"},
            {"name": "quiet", "type": "end"},
        ],
    }


def test_query_metric_reads_the_error_ratio_from_prometheus_and_flags_it(
    scraped_demo_app, api_client, naksha_crds, fresh_namespace
):
    from kubernetes import client

    from naksha.kube import Kube

    kube, custom = Kube(api_client), client.CustomObjectsApi(api_client)
    body = create_run(
        custom, fresh_namespace, "errors", {"graph": query_graph(scraped_demo_app.url, ERROR_RATIO)}
    )
    status = run_to_end(kube, body, Clock())
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["state"]["anomalous"] is True
    assert status["state"]["value"] == pytest.approx(0.25, abs=0.03)
    assert [step["node"] for step in status["steps"]] == ["observe", "decide", "failing"]


def test_query_metric_fails_the_run_with_the_parse_error_rather_than_guessing(
    scraped_demo_app, api_client, naksha_crds, fresh_namespace
):
    from kubernetes import client

    from naksha.kube import Kube

    kube, custom = Kube(api_client), client.CustomObjectsApi(api_client)
    graph = query_graph(scraped_demo_app.url, "rate(demo_http_requests_total[5s]")
    status = run_to_end(kube, create_run(custom, fresh_namespace, "broken", {"graph": graph}), Clock())
    assert status["phase"] == "Failed"
    assert "node observe: prometheus refused the query (bad_data, HTTP 400)" in status["message"]


def test_an_insight_workers_metrics_are_scraped_and_queried_by_stream_and_reason(
    prometheus_server, control_plane, api_client, naksha_crds, fresh_namespace, tmp_path
):
    from kubernetes import client

    port = free_port()
    threshold = {"threshold": {"above": 100}}
    detector = {"name": "latency", "metric": "latency", "method": "threshold", "params": threshold}
    spec = {"source": {"type": "http", "http": {"port": port, "auth": "none"}}, "detectors": [detector]}
    body = {
        "apiVersion": "naksha.io/v1alpha1",
        "kind": "InsightStream",
        "metadata": {"name": "scraped"},
        "spec": spec,
    }
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "naksha.io", "v1alpha1", fresh_namespace, "insightstreams", body
    )
    env = {
        **os.environ,
        "KUBECONFIG": str(control_plane.kubeconfig_path),
        "PYTHONPATH": str(ROOT / "operator"),
        "NAKSHA_STREAM_NAME": "scraped",
        "NAKSHA_STREAM_NAMESPACE": fresh_namespace,
        "NAKSHA_INSIGHT_SPEC": json.dumps(spec),
        "NAKSHA_HTTP_PORT": str(port),
        "HOSTNAME": "scraped-worker-0",
    }
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "naksha", "insight-worker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    selector = 'job="insight-workers",stream="scraped"'
    try:
        eventually(lambda: status_of(f"http://127.0.0.1:{port}/health") == 200, timeout=30)
        prometheus_server.set_targets("insight", [f"127.0.0.1:{port}"], {"job": "insight-workers"})
        records = [{"metric": "latency", "value": 0.1 * i} for i in range(20)] + [42, 43, 44]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/ingest", data=json.dumps(records).encode(), method="POST"
        )
        assert urllib.request.urlopen(request, timeout=10).status == 202
        ingested = f"sum(naksha_insight_ingested_total{{{selector}}})"
        eventually(lambda: value_of(prometheus_server, ingested) == 20, timeout=30, interval=0.5)
        rejected = f'sum by (reason) (naksha_insight_rejected_total{{{selector},reason="not_object"}})'
        assert measured(prometheus_server.url, rejected).result == 3
    finally:
        prometheus_server.remove_targets("insight")
        worker.terminate()
        worker.wait(timeout=30)
