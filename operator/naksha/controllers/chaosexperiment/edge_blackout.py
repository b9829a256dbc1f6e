"""The ``edge-blackout`` fault: the hub refuses an EdgeNode's heartbeats for the fault's duration.

Injecting sets ``naksha.io/heartbeat-blackout`` on the EdgeNode; the hub, which watches its
EdgeNodes, answers that node's heartbeats 503 while the annotation is there, so the node's lease
runs out and the hub marks it Unknown after ``offlineAfter``, as for a node gone silent. The
agent keeps heartbeating (a 503 is not a refusal of its identity), so removing the annotation is
the whole restore: the next heartbeat is accepted and the node is Ready again.

The annotation's value is a token drawn when the intent is recorded (before the fault, in the
run's status), so injecting again after a crash writes the same value, and the restore removes
the annotation only while it still holds that token (a JSON patch ``test``): a second restore
after an operator SIGKILL, or one after somebody lifted the blackout by hand, writes nothing.

The run passes when the node went Unknown during the blackout and is Ready again afterwards:
its Ready condition is True with a ``lastTransitionTime`` after the fault began (True → True
never moves it, so a later transition means it was not Ready in between).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from naksha.domain.chaos.probes import ProbeResult
from naksha.domain.chaos.run import from_iso
from naksha.kube import KubeApi, KubeError, NotFound
from naksha.models.chaosexperiment import ChaosRun, Fault, RestoreStep
from naksha.models.labels import BLACKOUT_ANNOTATION
from naksha.models.resources import EDGE_NODES

FIELD = "heartbeat-blackout"
UNPROCESSABLE = 422
# The annotation's key as a JSON pointer ("/" in a key is written "~1").
POINTER = "/metadata/annotations/" + BLACKOUT_ANNOTATION.replace("~", "~0").replace("/", "~1")


def candidates(
    kube: KubeApi, namespace: str, selector: str, fault: Fault | None
) -> dict[str, dict[str, Any]]:
    """The EdgeNodes the selector matches (only ``params.edgeNode`` when the fault names one)."""
    nodes = kube.list(EDGE_NODES, namespace, label_selector=selector or None)
    named = (fault.params.get("edgeNode") if fault is not None else None) or None
    return {
        str(node["metadata"]["name"]): node
        for node in nodes
        if not node["metadata"].get("deletionTimestamp") and named in (None, node["metadata"]["name"])
    }


def intent(targets: Mapping[str, Mapping[str, Any]]) -> list[RestoreStep]:
    token = uuid.uuid4().hex
    return [
        RestoreStep(kind="EdgeNode", name=name, field=FIELD, value=None, injected_value=token)
        for name in sorted(targets)
    ]


def inject(kube: KubeApi, namespace: str, step: RestoreStep) -> str:
    """Black the node out (the same token again when a resumed run injects a second time)."""
    patch = {"metadata": {"annotations": {BLACKOUT_ANNOTATION: step.injected_value}}}
    kube.merge_patch(EDGE_NODES, namespace, step.name, patch)
    return f"heartbeats of EdgeNode {step.name} refused by the hub"


def restore(kube: KubeApi, namespace: str, step: RestoreStep) -> tuple[bool, str]:
    """Lift this run's blackout, once: (whether a write was made, what happened)."""
    operations = [
        {"op": "test", "path": POINTER, "value": step.injected_value},
        {"op": "remove", "path": POINTER},
    ]
    try:
        kube.json_patch(EDGE_NODES, namespace, step.name, operations)
    except NotFound:
        return False, f"EdgeNode {step.name} is gone; nothing to restore"
    except KubeError as error:
        if error.status == UNPROCESSABLE:
            return False, f"EdgeNode {step.name} no longer holds this run's blackout; left as it is"
        raise
    return True, f"heartbeats of EdgeNode {step.name} accepted again"


def not_back(kube: KubeApi, namespace: str, run: ChaosRun) -> ProbeResult | None:
    """Why a blacked-out node does not count as recovered yet (None: every node went Unknown and is Ready).

    Read after the restore; the verdict's message when the budget runs out.
    """
    if run.injected_at is None:
        return None
    since = int(from_iso(run.injected_at))  # conditions carry whole seconds
    for step in run.restore:
        if step.field != FIELD:
            continue
        try:
            node = kube.get(EDGE_NODES, namespace, step.name)
        except NotFound:
            return ProbeResult("edge-blackout", False, f"EdgeNode {step.name} was deleted")
        ready: dict[str, Any] = next(
            (c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {}
        )
        moved = ready.get("lastTransitionTime")
        if ready.get("status") != "True":
            return ProbeResult(
                "edge-blackout",
                False,
                f"EdgeNode {step.name} is not Ready again ({ready.get('status', 'no condition')}:"
                f" {ready.get('reason', '-')})",
            )
        if not moved or from_iso(str(moved)) < since:
            return ProbeResult(
                "edge-blackout",
                False,
                f"EdgeNode {step.name} never went Unknown during the blackout (is the hub running,"
                " and the fault's duration longer than the node's offlineAfter?)",
            )
    return None
