"""Trigger requests as the API stores them: a ConfigMap per trigger, named after its idempotency key.

Whoever wants an edge node to act (the ``edge-exec`` work package of an AgentRun) creates one;
the hub signs it, delivers it, and writes the node's result into it. The name comes from the
caller's idempotency key, so asking twice (a retried step, a restarted operator) is a 409 on the
same object, never a second trigger. Pure builders and readers only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from naksha.models.labels import EDGE_NODE_LABEL, EDGE_TRIGGER_LABEL

TRIGGER_LABEL = EDGE_TRIGGER_LABEL
NODE_LABEL = EDGE_NODE_LABEL
PENDING = "pending"
DONE = "done"


def request_name(idempotency_key: str) -> str:
    return "edge-trigger-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]


def build_request(
    *,
    namespace: str,
    node: str,
    wpk: str,
    params: Mapping[str, Any],
    run: Mapping[str, str],
    idempotency_key: str,
    ttl_seconds: float = 300.0,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": request_name(idempotency_key),
            "namespace": namespace,
            "labels": {TRIGGER_LABEL: PENDING, NODE_LABEL: node, "app.kubernetes.io/part-of": "naksha"},
        },
        "data": {
            "node": node,
            "wpk": wpk,
            "params": json.dumps(dict(params), sort_keys=True),
            "run": json.dumps(dict(run), sort_keys=True),
            "ttlSeconds": str(float(ttl_seconds)),
        },
    }


@dataclass(frozen=True)
class TriggerRequest:
    name: str
    node: str
    wpk: str
    params: Mapping[str, Any]
    run: Mapping[str, str]
    ttl: float
    token: str
    jti: str
    result: Mapping[str, Any] | None
    resource_version: str


def read_request(body: Mapping[str, Any]) -> TriggerRequest:
    """The request in a ConfigMap; ValueError names what is malformed."""
    metadata = body.get("metadata") or {}
    data = body.get("data") or {}
    try:
        params = json.loads(data.get("params") or "{}")
        run = json.loads(data.get("run") or "{}")
        result = json.loads(data["result"]) if data.get("result") else None
        ttl = float(data.get("ttlSeconds") or 300.0)
    except (ValueError, TypeError) as error:
        raise ValueError(f"trigger request {metadata.get('name')}: {error}") from None
    if (
        not isinstance(params, dict)
        or not isinstance(run, dict)
        or not data.get("node")
        or not data.get("wpk")
    ):
        raise ValueError(f"trigger request {metadata.get('name')}: needs node, wpk, params and run")
    return TriggerRequest(
        name=str(metadata.get("name", "")),
        node=str(data["node"]),
        wpk=str(data["wpk"]),
        params=params,
        run={str(k): str(v) for k, v in run.items()},
        ttl=ttl,
        token=str(data.get("token") or ""),
        jti=str(data.get("jti") or ""),
        result=result if isinstance(result, dict) else None,
        resource_version=str(metadata.get("resourceVersion", "")),
    )
