"""anomaly-injection's doing: synthetic samples pushed to an InsightStream's HTTP ingest.

The spike goes where real telemetry goes (``POST /ingest`` on the stream's worker Service), so
the detectors, triggers and the AgentRun they start are exercised for real and nothing else is
harmed; the restore pushes baseline samples, as the telemetry of a healthy service would be.

A stream with ``auth: kubernetes`` (the default) admits a push whose bearer token its workers
can review and whose user RBAC allows to ``create`` ``insightstreams/ingest`` on that stream. The
operator pushes as the ServiceAccount ``naksha-chaos-injector`` of the stream's namespace, with a
short-lived token it asks the TokenRequest API for (audience: the stream's), never with its own
identity: the namespace's owner decides, with a RoleBinding, which streams chaos may push into.
The operator may request tokens for that one account name only (``naksha rbac``).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from naksha.errors import RetryableError
from naksha.kube import KubeApi, KubeError, NotFound
from naksha.models.group import GROUP
from naksha.models.resources import INSIGHT_STREAMS, SERVICE_ACCOUNTS, SERVICES
from naksha.workloads.insight import worker_name

PUSH_TIMEOUT_SECONDS = 5.0
INJECTOR_ACCOUNT = "naksha-chaos-injector"
TOKEN_SECONDS = 600  # the shortest lifetime the TokenRequest API grants


def ingest_refusal(kube: KubeApi, namespace: str, spike: Spike) -> str | None:
    """Why the spike cannot be pushed into this stream (read before anything is injected), or None."""
    try:
        stream = kube.get(INSIGHT_STREAMS, namespace, spike.stream)
    except NotFound:
        return f"InsightStream {namespace}/{spike.stream} does not exist"
    source = (stream.get("spec") or {}).get("source") or {}
    if source.get("type") != "http":
        return (
            f"anomaly-injection pushes to an HTTP-push stream's ingest; InsightStream {spike.stream} "
            f"reads from {source.get('type')}"
        )
    if (source.get("http") or {}).get("auth", "kubernetes") == "kubernetes":
        try:
            kube.get(SERVICE_ACCOUNTS, namespace, INJECTOR_ACCOUNT)
        except NotFound:
            return (
                f"InsightStream {spike.stream} takes pushes with auth: kubernetes; create the "
                f"ServiceAccount {INJECTOR_ACCOUNT} in {namespace} and bind it to a Role allowing "
                f"create on insightstreams/ingest (resourceNames: [{spike.stream}]) (docs/chaos.md)"
            )
        if not _injector_may_push(kube, namespace, spike.stream):
            return (
                f"ServiceAccount {namespace}/{INJECTOR_ACCOUNT} may not create insightstreams/ingest "
                f"on {spike.stream}: bind it to a Role allowing that (docs/chaos.md)"
            )
    return None


def _injector_may_push(kube: KubeApi, namespace: str, stream: str) -> bool:
    """What the stream's workers will ask (a SubjectAccessReview), asked before the fault."""
    review = kube.create(
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": f"system:serviceaccount:{namespace}:{INJECTOR_ACCOUNT}",
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": "create",
                    "group": GROUP,
                    "resource": "insightstreams",
                    "subresource": "ingest",
                    "name": stream,
                },
            },
        }
    )
    return bool((review.get("status") or {}).get("allowed"))


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
    headers = {"Content-Type": "application/json", **_authorization(kube, namespace, spike.stream)}
    now = time.time()
    records = [
        {"ts": now - (spike.count - 1 - i), "metric": spike.metric, "value": value, "labels": spike.labels}
        for i in range(spike.count)
    ]
    request = urllib.request.Request(
        f"http://{address}/ingest",
        data=json.dumps(records).encode(),
        headers=headers,
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


def _authorization(kube: KubeApi, namespace: str, stream_name: str) -> dict[str, str]:
    """The bearer token header a stream with ``auth: kubernetes`` needs; none for ``auth: none``."""
    try:
        stream = kube.get(INSIGHT_STREAMS, namespace, stream_name)
    except NotFound:
        raise RetryableError(f"InsightStream {stream_name} does not exist") from None
    http = ((stream.get("spec") or {}).get("source") or {}).get("http") or {}
    if http.get("auth", "kubernetes") != "kubernetes":
        return {}
    try:
        token, _ = kube.request_token(
            namespace,
            INJECTOR_ACCOUNT,
            audiences=[str(http.get("audience") or "naksha")],
            seconds=TOKEN_SECONDS,
        )
    except KubeError as error:
        raise RetryableError(
            f"no token of ServiceAccount {namespace}/{INJECTOR_ACCOUNT} for {stream_name}: {error}"
        ) from error
    return {"Authorization": f"Bearer {token}"}
