"""Work packages that look or tell rather than change: query-metric, http-check, wait, notify.

``query-metric`` reads either a Prometheus HTTP API query or an InsightStream detector's live
state (anomalous while its last anomaly is younger than ``window``), and adds the target's
replicas, so a decide node can weigh both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from naksha.controllers.agentrun.guardrails import Refusal
from naksha.controllers.agentrun.wpk import NotYet, Plan, Result, WorkPackage, WpkContext, WpkError, register
from naksha.controllers.probes import ProbeError, http_request, prometheus_value
from naksha.kube import Conflict, NotFound, resource_for
from naksha.kube.events import event_about
from naksha.models import timestamps
from naksha.models.common import DnsLabel, Duration, NakshaModel, parse_duration
from naksha.models.group import API_VERSION
from naksha.models.resources import INSIGHT_STREAMS

MAX_WAIT_SECONDS = 3600


def _nothing(context: WpkContext, params: Any) -> Plan:
    return {}


def _http(
    url: str, *, timeout: float, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    try:
        return http_request(url, timeout=timeout, data=data, headers=headers)
    except ProbeError as error:
        raise WpkError(str(error)) from None


# --- query-metric --------------------------------------------------------------------------------


class QueryMetricParams(NakshaModel):
    prometheus: str | None = Field(default=None, description="Prometheus base URL.")
    query: str | None = Field(default=None, description="PromQL, with prometheus.")
    stream: str | None = Field(default=None, description="InsightStream name, with detector.")
    stream_namespace: DnsLabel | None = Field(
        default=None, description="The InsightStream's namespace (a shared one); default: the run's."
    )
    detector: str | None = None
    above: float | None = Field(default=None, description="With prometheus: anomalous above this.")
    below: float | None = Field(default=None, description="With prometheus: anomalous below this.")
    window: Duration = Field(
        default="2m",
        description="Without live detector state: an anomaly younger than this counts.",
    )


def _query_metric(context: WpkContext, params: QueryMetricParams, plan: Plan) -> Result:
    result: Result = {}
    if params.prometheus and params.query:
        try:
            value = prometheus_value(params.prometheus, params.query, timeout=context.http_timeout)
        except ProbeError as error:
            raise WpkError(str(error)) from None
        result["value"] = value
        if params.above is not None or params.below is not None:
            result["anomalous"] = value is not None and (
                (params.above is not None and value > params.above)
                or (params.below is not None and value < params.below)
            )
    elif params.stream and params.detector:
        where = params.stream_namespace or context.namespace
        try:
            stream = context.kube.get(INSIGHT_STREAMS, where, params.stream)
        except NotFound:
            raise WpkError(f"InsightStream {where}/{params.stream} does not exist") from None
        stream_status = stream.get("status") or {}
        last = (stream_status.get("lastAnomaly") or {}).get(params.detector)
        detector_state = (stream_status.get("detectors") or {}).get(params.detector)
        if _signal_not_reported_yet(context.signal, params, last):
            # The run's own anomaly is newer than the stream's last report: it is live by definition.
            anomalous = True
            result["pendingSignal"] = True
        elif isinstance(detector_state, dict):
            # The workers' live state: series of this detector still in an incident.
            active = int(detector_state.get("active") or 0)
            anomalous = active > 0
            result["activeSeries"] = active
        else:
            age = _age(last.get("detectedAt"), context.clock()) if last else None
            anomalous = age is not None and age < parse_duration(params.window)
        result.update(
            anomalous=anomalous,
            value=last.get("value") if last else None,
            detectedAt=last.get("detectedAt") if last else None,
        )
    else:
        raise WpkError("query-metric needs prometheus+query or stream+detector")
    if context.target is not None and context.target.kind in ("Deployment", "Rollout"):
        try:
            target = context.kube.get(
                resource_for(context.target.api_version, context.target.kind),
                context.target_namespace(),
                context.target.name,
            )
        except NotFound:
            # Deleted since the run was admitted: what a decide node would weigh is gone.
            raise Refusal(
                "TargetNotFound",
                f"{context.target.kind} {context.target_namespace()}/{context.target.name} does not exist",
            ) from None
        result["replicas"] = int((target.get("spec") or {}).get("replicas", 1))
    return result


def _signal_not_reported_yet(
    signal: Mapping[str, Any], params: QueryMetricParams, last: Mapping[str, Any] | None
) -> bool:
    if (signal.get("stream"), signal.get("detector")) != (params.stream, params.detector):
        return False
    detected = signal.get("detectedAt")
    if not detected:
        return False
    reported = (last or {}).get("detectedAt")
    return not reported or _timestamp(str(detected)) > _timestamp(str(reported))


def _timestamp(stamp: str) -> float:
    return timestamps.to_seconds(stamp)


def _age(stamp: str | None, now: float) -> float | None:
    if not stamp:
        return None
    return now - _timestamp(stamp)


register(
    WorkPackage(
        "query-metric",
        "1.0",
        "Read a Prometheus query or an InsightStream detector's state (and the target's replicas).",
        QueryMetricParams,
        "observe",
        ("naksha.io/insightstreams: get", "the target's kind: get"),
        _nothing,
        _query_metric,
        namespace_params=("streamNamespace",),
    )
)


# --- http-check ----------------------------------------------------------------------------------


class HttpCheckParams(NakshaModel):
    url: str = Field(min_length=1)
    expect_status: int = Field(default=200, ge=100, le=599)


def _http_check(context: WpkContext, params: HttpCheckParams, plan: Plan) -> Result:
    started = time.perf_counter()
    try:
        status, _ = _http(params.url, timeout=context.http_timeout)
    except WpkError as error:
        return {"ok": False, "anomalous": True, "status": None, "error": str(error)}
    return {
        "ok": status == params.expect_status,
        "anomalous": status != params.expect_status,  # so a verify node can wait for health
        "status": status,
        "latencyMs": round((time.perf_counter() - started) * 1000, 1),
    }


register(
    WorkPackage(
        "http-check",
        "1.0",
        "GET a URL and compare the status code.",
        HttpCheckParams,
        "observe",
        (),
        _nothing,
        _http_check,
    )
)


# --- wait ----------------------------------------------------------------------------------------


class WaitParams(NakshaModel):
    duration: Duration = Field(description=f"At most {MAX_WAIT_SECONDS} s.")


def _plan_wait(context: WpkContext, params: WaitParams) -> Plan:
    seconds = parse_duration(params.duration)
    if seconds > MAX_WAIT_SECONDS:
        raise WpkError(f"wait is limited to {MAX_WAIT_SECONDS} s")
    return {"until": context.clock() + seconds}


def _wait(context: WpkContext, params: WaitParams, plan: Plan) -> Result:
    if plan["until"] > context.clock() and not context.dry_run:
        raise NotYet()  # the engine comes back later; the plan (the deadline) is kept meanwhile
    return {"waited": True}


register(
    WorkPackage(
        "wait",
        "1.0",
        "Wait for a duration (without holding a thread; a restart waits only what is left).",
        WaitParams,
        "observe",
        (),
        _plan_wait,
        _wait,
        waits=True,
    )
)


# --- notify --------------------------------------------------------------------------------------


class NotifyParams(NakshaModel):
    reason: str = Field(default="AgentNotice", pattern=r"^[A-Z][A-Za-z0-9]*$")
    message: str = Field(min_length=1, max_length=1024)
    webhook: str | None = Field(default=None, description="POSTs the notice as JSON here too.")


def _notify(context: WpkContext, params: NotifyParams, plan: Plan) -> Result:
    # Named after the action's key: a replay after a crash finds it and posts nothing twice.
    name = f"{context.run_name}.{context.key[:16] or 'notice'}"
    event = event_about(
        {
            "apiVersion": API_VERSION,
            "kind": "AgentRun",
            "name": context.run_name,
            "namespace": context.namespace,
        },
        reason=params.reason,
        message=params.message,
        component="naksha-agent",
        name=name,
    )
    result: Result = {"event": name}
    if not context.dry_run:
        try:
            context.kube.create(event)
        except Conflict:
            result["event"] = f"{name} (already posted)"
    if params.webhook and not context.dry_run:
        body = json.dumps(
            {
                "run": context.run_name,
                "namespace": context.namespace,
                "reason": params.reason,
                "message": params.message,
            }
        ).encode()
        status, _ = _http(
            params.webhook,
            timeout=context.http_timeout,
            data=body,
            headers={"Content-Type": "application/json", "Idempotency-Key": context.key},
        )
        if status >= 300:
            raise WpkError(f"the webhook answered {status}")
        result["webhookStatus"] = status
    return result


register(
    WorkPackage(
        "notify",
        "1.0",
        "Post an Event on the run (and POST a webhook, with an Idempotency-Key).",
        NotifyParams,
        "act",
        ("core/events: create",),
        _nothing,
        _notify,
    )
)
