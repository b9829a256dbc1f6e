"""Work packages that act on edge nodes through the federation hub: ``edge-exec`` and ``edge-result``.

``edge-exec`` (act) asks the hub for one signed trigger: it refuses a cordoned or not-Ready
EdgeNode when planning, then creates the trigger request named after the action's idempotency
key (``naksha.domain.federation.requests``), so a replayed action finds the same request (409)
and never sends a second trigger. ``edge-result`` (observe, waits) reads the result the hub
recorded in that request, holding no thread while it waits; past its timeout it reports
``TimedOut``. A playbook chains them: act ``edge-exec`` → observe ``edge-result`` → decide.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Literal

from pydantic import Field

from naksha.controllers.agentrun.wpk import NotYet, Plan, Result, WorkPackage, WpkContext, WpkError, register
from naksha.domain.federation import requests as trigger_requests
from naksha.kube import Conflict, NotFound
from naksha.models.common import Duration, FreeForm, NakshaModel, parse_duration
from naksha.models.resources import CONFIG_MAPS, EDGE_NODES

EDGE_NODE = EDGE_NODES
CONFIGMAP = CONFIG_MAPS


class EdgeExecParams(NakshaModel):
    wpk: Literal["http-check", "run-command", "collect-diagnostics", "restart-service"] = Field(
        description="The edge node's local work package (it must be in the node's allow-list)."
    )
    params: FreeForm = Field(default_factory=dict, description="Its parameters, e.g. {command, args}.")
    ttl: Duration = Field(default="5m", description="How long the signed trigger stays valid.")
    name: str | None = Field(default=None, description="The EdgeNode; default: the run's target.")


def _edge_name(context: WpkContext, name: str | None) -> str:
    return name or context.require_target("EdgeNode").name


def _plan_exec(context: WpkContext, params: EdgeExecParams) -> Plan:
    name = _edge_name(context, params.name)
    try:
        edge = context.kube.get(EDGE_NODE, context.namespace, name)
    except NotFound:
        raise WpkError(f"no EdgeNode {name} in {context.namespace}") from None
    if (edge.get("spec") or {}).get("unschedulable"):
        raise WpkError(f"EdgeNode {name} is cordoned (spec.unschedulable): no trigger is sent")
    ready: dict[str, Any] = next(
        (c for c in (edge.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    if ready.get("status") != "True":
        raise WpkError(f"EdgeNode {name} is not Ready ({ready.get('reason') or 'never heartbeated'})")
    return {"edge": name, "request": trigger_requests.request_name(context.key or context.run_name)}


def _apply_exec(context: WpkContext, params: EdgeExecParams, plan: Plan) -> Result:
    body = trigger_requests.build_request(
        namespace=context.namespace,
        node=plan["edge"],
        wpk=params.wpk,
        params=params.params,
        run={"namespace": context.namespace, "name": context.run_name, "action": context.key},
        idempotency_key=context.key or context.run_name,
        ttl_seconds=parse_duration(params.ttl),
    )
    if context.dry_run:
        return {"edge": plan["edge"], "request": plan["request"], "dryRun": True}
    # A Conflict: asked already, by this same action before a restart: one trigger only.
    with contextlib.suppress(Conflict):
        context.kube.create(body)
    return {"edge": plan["edge"], "request": plan["request"], "wpk": params.wpk}


register(
    WorkPackage(
        "edge-exec",
        "1.0",
        "Send one signed trigger to an EdgeNode's agent (refuses cordoned or not-Ready nodes).",
        EdgeExecParams,
        "act",
        ("naksha.io/edgenodes: get", "core/configmaps: create"),
        _plan_exec,
        _apply_exec,
    )
)


class EdgeResultParams(NakshaModel):
    act: str = Field(min_length=1, description="The act node that ran edge-exec.")
    timeout: Duration = Field(default="5m", description="Report TimedOut after this long.")


def _plan_result(context: WpkContext, params: EdgeResultParams) -> Plan:
    return {"until": context.clock() + parse_duration(params.timeout)}


def _apply_result(context: WpkContext, params: EdgeResultParams, plan: Plan) -> Result:
    sent: Any = context.state.get(params.act)
    if not isinstance(sent, dict) or "request" not in sent:
        raise WpkError(f"node {params.act!r} has not sent an edge trigger")
    if sent.get("dryRun"):
        return {"edgeOutcome": "DryRun", "anomalous": False}
    try:
        request = context.kube.get(CONFIGMAP, context.namespace, sent["request"])
    except NotFound:
        raise WpkError(f"the trigger request {sent['request']} is gone") from None
    raw = (request.get("data") or {}).get("result")
    if not raw:
        if context.clock() < plan["until"]:
            raise NotYet()
        return {"edgeOutcome": "TimedOut", "edgeExitCode": None, "edgeOutput": "", "anomalous": True}
    result = json.loads(raw)
    outcome = str(result.get("outcome", ""))
    return {
        "edgeOutcome": outcome,
        "edgeExitCode": result.get("exitCode"),
        "edgeOutput": str(result.get("output") or result.get("reason") or "")[:1024],
        "anomalous": outcome != "Succeeded",
    }


register(
    WorkPackage(
        "edge-result",
        "1.0",
        "Wait for the result of an edge-exec trigger (Succeeded, Failed, Refused, Interrupted, Expired).",
        EdgeResultParams,
        "observe",
        ("core/configmaps: get",),
        _plan_result,
        _apply_result,
        waits=True,
    )
)
