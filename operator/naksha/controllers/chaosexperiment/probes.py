"""Reading what each probe looks at; the judgement is ``naksha.domain.chaos.probes``.

Probes are side-effect-free reads, repeated freely: a Deployment's or Rollout's available
replicas or a pod's phase, an HTTP answer's status and latency, a Prometheus instant query, an
InsightStream detector's open incidents.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

from naksha.controllers.probes import ProbeError, prometheus_value
from naksha.domain.chaos.probes import (
    ProbeResult,
    applies,
    judge_http,
    judge_insight,
    judge_metric,
    judge_pod,
    judge_workload,
)
from naksha.kube import KubeApi, KubeError, NotFound
from naksha.models.chaosexperiment import Probe
from naksha.models.common import parse_duration
from naksha.models.resources import DEPLOYMENTS, INSIGHT_STREAMS, PODS, ROLLOUTS

_REFS = {
    "Deployment": DEPLOYMENTS,
    "Rollout": ROLLOUTS,
    "Pod": PODS,
}


def first_failure(kube: KubeApi, namespace: str, probes: Iterable[Probe], phase: str) -> ProbeResult | None:
    """The first probe checked in ``phase`` that fails, or None when all of them hold."""
    for probe in probes:
        if not applies(probe.mode, phase):
            continue
        result = check(kube, namespace, probe)
        if not result.ok:
            return result
    return None


def first_holding(kube: KubeApi, namespace: str, conditions: Iterable[Probe]) -> ProbeResult | None:
    """The first abort condition that holds (its probe fails), or None."""
    for probe in conditions:
        result = check(kube, namespace, probe)
        if not result.ok:
            return result
    return None


def check(kube: KubeApi, namespace: str, probe: Probe) -> ProbeResult:
    try:
        if probe.type == "kubernetes":
            return _kubernetes(kube, namespace, probe)
        if probe.type == "http":
            return _http(probe)
        if probe.type == "metric":
            return _metric(probe)
        return _insight(kube, namespace, probe)
    except KubeError as error:
        return ProbeResult(probe.name, False, f"the API answered {error}")


def _kubernetes(kube: KubeApi, namespace: str, probe: Probe) -> ProbeResult:
    assert probe.resource is not None
    try:
        obj: dict[str, Any] | None = kube.get(_REFS[probe.resource.kind], namespace, probe.resource.name)
    except NotFound:
        obj = None
    if probe.resource.kind == "Pod":
        return judge_pod(probe.name, obj)
    return judge_workload(probe.name, obj, probe.min_available)


def _http(probe: Probe) -> ProbeResult:
    assert probe.url is not None
    timeout = parse_duration(probe.timeout)
    started = time.perf_counter()
    status: int | None
    error = ""
    try:
        with urllib.request.urlopen(probe.url, timeout=timeout) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as failure:
        status = int(failure.code)
    except (OSError, ValueError) as failure:
        status, error = None, str(failure)
    latency = time.perf_counter() - started
    limit = parse_duration(probe.max_latency) if probe.max_latency else None
    return judge_http(probe.name, status, latency, probe.expect_status, limit, error)


def _metric(probe: Probe) -> ProbeResult:
    """An instant query through the Prometheus HTTP API, read as every other Naksha probe reads it
    (one series or a scalar; Prometheus' own reason when it refuses the query)."""
    assert probe.url is not None and probe.query is not None and probe.condition is not None
    try:
        value = prometheus_value(probe.url, probe.query, timeout=parse_duration(probe.timeout))
    except ProbeError as failure:
        return ProbeResult(probe.name, False, f"Prometheus at {probe.url}: {failure}")
    return judge_metric(probe.name, value, probe.condition, probe.tolerance)


def _insight(kube: KubeApi, namespace: str, probe: Probe) -> ProbeResult:
    assert probe.stream is not None and probe.detector is not None
    try:
        status = kube.get(INSIGHT_STREAMS, namespace, probe.stream).get("status") or {}
    except NotFound:
        return judge_insight(probe.name, None, probe.detector)
    return judge_insight(probe.name, status, probe.detector)
