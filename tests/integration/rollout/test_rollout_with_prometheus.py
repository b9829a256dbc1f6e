"""A Rollout judged by a real Prometheus scraping the demo app's pods: good promoted, bad rolled back.

The Rollout's pods run ``naksha demo-app`` (the local kubelet runs ``naksha`` images as
processes). The test does what Prometheus' Kubernetes discovery does in a cluster: it lists the
pods and names each ready one as a target at ``status.podIP`` and its container port, labelled
with its namespace, pod and rollout role, and sends them steady traffic. The canary step's
analysis is the error ratio users write: ``rate()`` over the demo app's request counters.
Each version listens on its own port, so that the versions never share one while pods share
the host's loopback.
"""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from tests.support import eventually, free_port
from tests.support.rollouts import Cluster

from naksha.models.group import GROUP, VERSION
from naksha.models.labels import ROLE_LABEL

LABELS = {"app": "demo"}


def demo_template(version: str, error_rate: float, port: int) -> dict[str, Any]:
    return {
        "metadata": {"labels": dict(LABELS)},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "naksha:test",
                    "args": ["demo-app"],
                    "env": [
                        {"name": "NAKSHA_DEMO_VERSION", "value": version},
                        {"name": "NAKSHA_DEMO_ERROR_RATE", "value": str(error_rate)},
                        {"name": "NAKSHA_DEMO_PORT", "value": str(port)},
                    ],
                    "ports": [{"name": "http", "containerPort": port}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
                }
            ]
        },
    }


def error_ratio(namespace: str) -> str:
    """The canary's share of 5xx answers over the last 10 s (0 when it served no error at all)."""
    selector = f'namespace="{namespace}",role="canary"'
    return (
        f'(sum(rate(demo_http_requests_total{{{selector},code=~"5.."}}[10s])) or vector(0))'
        f" / sum(rate(demo_http_requests_total{{{selector}}}[10s]))"
    )


def demo_rollout(namespace: str, prometheus_url: str, template: dict[str, Any]) -> dict[str, Any]:
    analysis = {
        "name": "error-rate",
        "provider": {"prometheus": {"address": prometheus_url, "query": error_ratio(namespace)}},
        # A new canary is found, then needs two scrapes in the window before rate() has a value.
        "initialDelay": "8s",
        "interval": "2s",
        "count": 5,
        "failureCondition": "result > 0.1",
        # Until Prometheus has two samples of the new canary, the ratio has no value: tolerated.
        "inconclusiveLimit": 10,
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Rollout",
        "metadata": {"name": "demo"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(LABELS)},
            "template": template,
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"analysis": {"metrics": [analysis]}}]}},
        },
    }


def scrape_port(container: Any) -> int:
    """The container port named ``http``: the last one declared, as the kubelet resolves probe ports.

    The last, because the local API server's apply merges a Deployment's port list with the earlier
    revisions' (it keeps no field ownership), so a canary that was applied first with the stable
    template still lists the stable version's port before its own.
    """
    return int([p.container_port for p in container.ports or [] if p.name == "http"][-1])


class PodTargets:
    """Keeps Prometheus' targets equal to the namespace's ready demo pods, and sends each traffic."""

    def __init__(self, api_client: client.ApiClient, namespace: str, prometheus: Any) -> None:
        self.core = client.CoreV1Api(api_client)
        self.namespace = namespace
        self.prometheus = prometheus
        self.urls: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._discover, daemon=True)]
        self._threads += [threading.Thread(target=self._load, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _discover(self) -> None:
        while not self._stop.wait(0.5):
            try:
                pods = self.core.list_namespaced_pod(self.namespace, label_selector="app=demo").items
            except client.ApiException:
                continue  # the namespace is being created or deleted: look again
            groups = [target for pod in pods if (target := self._target(pod)) is not None]
            self.urls = [f"http://{address}/" for address, _ in groups]
            self.prometheus.set_groups(self.namespace, groups)

    def _target(self, pod: Any) -> tuple[str, dict[str, str]] | None:
        """``podIP:port`` and labels of a ready pod; None for one not (or no longer) serving."""
        status = pod.status
        if status is None or not status.pod_ip or pod.metadata.deletion_timestamp:
            return None
        if not any(c.type == "Ready" and c.status == "True" for c in status.conditions or []):
            return None
        labels = {
            "job": "demo-pods",
            "namespace": self.namespace,
            "pod": pod.metadata.name,
            "role": (pod.metadata.labels or {}).get(ROLE_LABEL, ""),
        }
        return f"{status.pod_ip}:{scrape_port(pod.spec.containers[0])}", labels

    def _load(self) -> None:
        while not self._stop.is_set():
            if not self.urls:
                self._stop.wait(0.1)
            for url in list(self.urls):
                try:
                    urllib.request.urlopen(url, timeout=2).read()
                except urllib.error.HTTPError:
                    pass  # a bad version's 500s are what the analysis measures
                except OSError:
                    self._stop.wait(0.05)  # a pod that just went away

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.prometheus.remove_targets(self.namespace)


@pytest.fixture
def demo_cluster(naksha_operator, api_client, fresh_namespace, prometheus_server) -> Iterator[Cluster]:
    """The namespace's demo pods and the operator's own /metrics, both scraped by Prometheus."""
    prometheus_server.set_targets("operator", [f"127.0.0.1:{naksha_operator}"], {"job": "naksha-operator"})
    targets = PodTargets(api_client, fresh_namespace, prometheus_server)
    try:
        yield Cluster(api_client, fresh_namespace)
    finally:
        targets.stop()
        prometheus_server.remove_targets("operator")


def value(prometheus: Any, query: str) -> float:
    result = prometheus.api("query", query=query)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def analysis_of(status: dict[str, Any]) -> dict[str, Any]:
    return dict((status.get("analysis") or {}).get("step1/error-rate") or {})


def test_a_good_version_is_promoted_and_a_bad_one_rolled_back_on_the_error_rate_prometheus_scraped(
    demo_cluster, prometheus_server
):
    ports = {version: free_port() for version in ("v1", "v2", "v3")}
    namespace = demo_cluster.namespace
    demo_cluster.create(demo_rollout(namespace, prometheus_server.url, demo_template("v1", 0.0, ports["v1"])))
    first = demo_cluster.wait_phase("demo", "Healthy")

    # v2 serves no errors: the canary's measured error ratio stays 0 and it is promoted.
    demo_cluster.patch("demo", {"spec": {"template": demo_template("v2", 0.0, ports["v2"])}})
    measured: list[dict[str, Any]] = []

    def promoted() -> dict[str, Any] | None:
        status = demo_cluster.status("demo")
        measured[:] = analysis_of(status).get("measurements") or measured  # cleared once promoted
        if status.get("phase") == "Healthy" and status["stableRevision"] != first["stableRevision"]:
            return status
        return None

    second = eventually(promoted, timeout=120, interval=0.3)
    env = demo_cluster.deployment("demo-stable").spec.template.spec.containers[0].env
    assert {e.name: e.value for e in env}["NAKSHA_DEMO_VERSION"] == "v2"
    judged = [m for m in measured if m["phase"] != "Inconclusive"]
    assert len(judged) >= 2 and all(m["phase"] == "Successful" and m["result"] == 0.0 for m in judged)
    # The operator's own /metrics, scraped by the same Prometheus, counted the promotion.
    promotions = f'sum(naksha_rollout_promotions_total{{job="naksha-operator",namespace="{namespace}"}})'
    eventually(lambda: value(prometheus_server, promotions) >= 1, timeout=30, interval=0.5)

    # v3 fails half of its requests: the ratio Prometheus computes crosses 0.1 and the Rollout rolls back.
    demo_cluster.patch("demo", {"spec": {"template": demo_template("v3", 0.5, ports["v3"])}})
    rolled_back = demo_cluster.wait_phase("demo", "RolledBack", timeout=120)
    assert rolled_back["stableRevision"] == second["stableRevision"]
    reason = rolled_back["rollback"]["reason"]
    assert "analysis error-rate failed" in reason and "failureCondition 'result > 0.1' holds" in reason
    # The measurement that failed it: the ratio Prometheus computed from the canary's counters.
    failed_ratio = float(re.search(r"result ([0-9.]+)\)$", reason).group(1))  # type: ignore[union-attr]
    assert failed_ratio == pytest.approx(0.5, abs=0.1)
    env = demo_cluster.rollout("demo")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {e["name"]: e["value"] for e in env}["NAKSHA_DEMO_VERSION"] == "v2"  # the spec was reverted
