"""Rollout analysis, the I/O part: take one measurement of a metric and judge it.

A Prometheus instant query, an HTTP endpoint, an InsightStream detector's live state (read from
the stream's status) or a Job built from the metric's template (created on first look, read
after). The judgement is pure: ``naksha.domain.rollout.analysis.judge``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from naksha.controllers.probes import ProbeError, http_request, prometheus_value
from naksha.domain.rollout.analysis import Measurement, judge
from naksha.kube import Conflict, Kube, NotFound
from naksha.models.common import parse_duration
from naksha.models.resources import INSIGHT_STREAMS, JOBS
from naksha.models.rollout import AnalysisMetric
from naksha.workloads.naming import child_name

PROBE_TIMEOUT_SECONDS = 5.0


def measure(
    kube: Kube, namespace: str, rollout: str, metric: AnalysisMetric, run: str, owner: dict[str, Any]
) -> Measurement:
    """Take (or, for a Job, look at) one measurement and judge it.

    ``run`` names this measurement among all of the Rollout's (revision, step, attempt): a Job
    provider's Job is named after it, so a later revision never finds an earlier one's Job.
    """
    provider = metric.provider
    try:
        if provider.prometheus is not None:
            result: Any = prometheus_value(
                provider.prometheus.address, provider.prometheus.query, timeout=PROBE_TIMEOUT_SECONDS
            )
        elif provider.insight is not None:
            result = _insight(kube, namespace, provider.insight.stream, provider.insight.detector)
        elif provider.http is not None:
            result = _http(provider.http.url, provider.http.json_path, parse_duration(provider.http.timeout))
        else:
            assert provider.job is not None
            result = _job(kube, namespace, rollout, metric, run, owner)
            if result is None:
                return Measurement("Pending", message="the analysis Job is running")
    except (ProbeError, NotFound) as error:
        return Measurement("Inconclusive", message=str(error))
    return judge(metric, result)


def _insight(kube: Kube, namespace: str, stream: str, detector: str) -> dict[str, Any]:
    status = kube.get(INSIGHT_STREAMS, namespace, stream).get("status") or {}
    live = (status.get("detectors") or {}).get(detector) or {}
    last = (status.get("lastAnomaly") or {}).get(detector) or {}
    active = int(live.get("active") or 0)
    return {"anomalous": active > 0, "active": active, "value": last.get("value")}


def _http(url: str, json_path: str | None, timeout: float) -> Any:
    status, body = http_request(url, timeout=timeout)
    if json_path is None:
        return status
    try:
        value: Any = json.loads(body)
    except ValueError:
        raise ProbeError(f"{url} did not answer JSON") from None
    for part in json_path.strip(".").split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ProbeError(f"{url}: no {json_path!r} in the reply")
        value = value[part]
    return value


def _job(
    kube: Kube, namespace: str, rollout: str, metric: AnalysisMetric, run: str, owner: dict[str, Any]
) -> bool | None:
    """True/False once the measurement's Job finished; None while it runs (created on first look)."""
    assert metric.provider.job is not None
    name = child_name(rollout, f"{metric.name}-{run}")
    try:
        job = kube.get(JOBS, namespace, name)
    except NotFound:
        body = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "ownerReferences": [owner]},
            "spec": {"backoffLimit": 0, **dict(metric.provider.job.template)},
        }
        with contextlib.suppress(Conflict):  # created by an earlier look that was cut short
            kube.create(body)
        return None
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return bool(condition["type"] == "Complete")
    return None
