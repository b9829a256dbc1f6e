"""The chart's Grafana dashboard asks only for metrics the operator and the insight workers export.

Every PromQL expression's metric names are checked against the live ``/metrics`` of the real
operator and of a real ``naksha insight-worker`` process (the hub does not exist in this build,
so the dashboard has no hub panel).
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from kubernetes import client
from tests.support import ROOT, eventually, free_port
from tests.support.workers import WorkerProcess

DASHBOARD = ROOT / "charts" / "naksha" / "dashboards" / "naksha.json"
# An identifier that is not a function call, a label matcher's name or value, or a by() label.
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def metric_names(expression: str) -> set[str]:
    """The series names an expression selects: identifiers outside {...} and by/without (...)."""
    text = re.sub(r"\{[^}]*\}", "", expression)  # label matchers
    text = re.sub(r"\b(by|without)\s*\([^)]*\)", "", text)  # grouping labels
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    names = set()
    for match in IDENTIFIER.finditer(text):
        rest = text[match.end() :].lstrip()
        if not rest.startswith("("):  # a function's name is followed by its arguments
            names.add(match.group())
    return names


def exported(metrics_text: str) -> set[str]:
    """Every series name a /metrics page can carry, from its TYPE lines and its samples."""
    names: set[str] = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            base = name.removesuffix("_total") if kind == "counter" else name
            names |= {name, base, *(base + suffix for suffix in SUFFIXES.get(kind, ()))}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def scrape(url: str) -> bytes | None:
    """The page, or None while nothing listens yet."""
    try:
        return bytes(urllib.request.urlopen(url, timeout=5).read())
    except OSError:
        return None


def worker_spec(port: int) -> dict[str, Any]:
    return {
        "source": {"type": "http", "http": {"port": port, "auth": "none"}},
        "detectors": [
            {"name": "p99", "metric": "latency", "method": "threshold", "params": {"threshold": {"above": 1}}}
        ],
    }


def test_the_expression_parser_finds_metric_names_and_skips_functions_and_labels():
    found = metric_names(
        'histogram_quantile(0.9, sum by (le, stream) (rate(a_seconds_bucket{code=~"5.."}[5m]))) / b_total'
    )
    assert found == {"a_seconds_bucket", "b_total"}


def test_every_dashboard_expression_uses_only_metrics_the_operator_and_a_worker_export(
    naksha_operator, control_plane, api_client, fresh_namespace, tmp_path
):
    operator_text = urllib.request.urlopen(f"http://127.0.0.1:{naksha_operator}/metrics", timeout=10).read()
    spec = worker_spec(free_port())
    body = {"apiVersion": "naksha.io/v1alpha1", "kind": "InsightStream", "metadata": {"name": "dash"}}
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "naksha.io", "v1alpha1", fresh_namespace, "insightstreams", {**body, "spec": spec}
    )
    kubeconfig = control_plane.kubeconfig_path
    worker = WorkerProcess(
        tmp_path, kubeconfig, namespace=fresh_namespace, stream="dash", spec=spec, name="d-0"
    )
    worker.start()
    try:
        url = f"http://127.0.0.1:{worker.port}/metrics"
        worker_text = eventually(lambda: scrape(url), timeout=90, interval=0.5)
    finally:
        assert worker.stop() == 0, worker.output()
    available = exported(operator_text.decode()) | exported(worker_text.decode())
    assert "naksha_reconcile_total" in available and "naksha_insight_ingested_total" in available
    for expression in expressions():
        names = metric_names(expression)
        assert names, f"no metric in {expression!r}"
        assert names <= available, f"{expression!r} asks for {sorted(names - available)}, not exported"


def test_the_dashboard_ships_as_a_configmap_labelled_for_grafanas_sidecar():
    template = (ROOT / "charts" / "naksha" / "templates" / "grafana-dashboard.yaml").read_text()
    assert '{{ .Files.Get "dashboards/naksha.json" | indent 4 }}' in template
    values = (ROOT / "charts" / "naksha" / "values.yaml").read_text()
    assert "label: grafana_dashboard" in values and 'labelValue: "1"' in values
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "naksha-overview" and len(dashboard["panels"]) >= 10
