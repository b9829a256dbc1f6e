"""anomaly-injection's doing: synthetic samples pushed to an InsightStream's HTTP ingest.

The spike goes where real telemetry goes (``POST /ingest`` on the stream's worker Service), so
the detectors, triggers and the AgentRun they start are exercised for real and nothing else is
harmed; the restore pushes baseline samples, as the telemetry of a healthy service would be.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from naksha.errors import RetryableError
from naksha.kube import KubeApi, NotFound
from naksha.models.resources import SERVICES
from naksha.workloads.insight import worker_name

PUSH_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Spike:
    stream: str
    metric: str
    value: float
    baseline: float
    count: int
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Spike:
        return cls(
            stream=str(params["stream"]),
            metric=str(params.get("metric", "chaos_anomaly")),
            value=float(params.get("value", 100.0)),
            baseline=float(params.get("baseline", 0.0)),
            count=int(params.get("count", 5)),
            labels={str(k): str(v) for k, v in (params.get("labels") or {}).items()},
        )


def push(kube: KubeApi, namespace: str, spike: Spike, value: float) -> str:
    """POST ``spike.count`` samples of ``value``, one a second up to now; the address it went to."""
    try:
        service = kube.get(SERVICES, namespace, worker_name(spike.stream))
    except NotFound:
        raise RetryableError(f"InsightStream {spike.stream} has no ingest Service yet") from None
    spec = service.get("spec") or {}
    address = f"{spec.get('clusterIP')}:{(spec.get('ports') or [{}])[0].get('port')}"
    now = time.time()
    records = [
        {"ts": now - (spike.count - 1 - i), "metric": spike.metric, "value": value, "labels": spike.labels}
        for i in range(spike.count)
    ]
    request = urllib.request.Request(
        f"http://{address}/ingest",
        data=json.dumps(records).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=PUSH_TIMEOUT_SECONDS) as answer:
            answer.read()
    except OSError as error:
        raise RetryableError(
            f"the ingest of InsightStream {spike.stream} at {address} refused: {error}"
        ) from error
    return address
