"""EdgeNode reconciliation on the operator's side: admission, approval, revocation, pending triggers.

The hub (``naksha.services.hub``) owns the lease: ``Ready``, ``lastHeartbeatTime``, the node's
key and report. The operator admits the spec, says what a node waits for before it can register
(``AwaitingApproval`` under manual approval, ``NotRegistered`` before its first registration),
posts an Event when its credentials are revoked, and counts the trigger requests still waiting
for it. Steps, in order, over one ``ReconcileContext``; the status is written once.
"""

from __future__ import annotations

from typing import cast

from naksha.controllers.edgenode.triggers import pending_triggers
from naksha.kube import KubeError
from naksha.models.conditions import ConditionType, Reason
from naksha.models.edgenode import EdgeNodeSpec
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext, Step, run_steps

PHASE_AWAITING_APPROVAL = "AwaitingApproval"
PHASE_NOT_REGISTERED = "NotRegistered"


def registration(context: ReconcileContext) -> None:
    """Before the hub registered a key: what the node waits for (the hub's phase wins after)."""
    spec = cast(EdgeNodeSpec, context.spec)
    registered = bool(context.old_status.get("keyThumbprint"))
    if not spec.approved:
        waiting = context.old_status.get("pendingKeyThumbprint")
        message = (
            f"Key {waiting} waits for `naksha edge approve {context.name}`."
            if waiting
            else "Registration needs `naksha edge approve` (spec.approved)."
        )
        context.set_condition(ConditionType.AWAITING_APPROVAL, "True", Reason.NODE_AWAITING_APPROVAL, message)
        if not registered:
            context.phase = PHASE_AWAITING_APPROVAL
        return
    context.clear_condition(ConditionType.AWAITING_APPROVAL)
    if not registered:
        context.phase = PHASE_NOT_REGISTERED
        if not any(c.get("type") == ConditionType.READY for c in context.conditions):
            context.set_condition(
                ConditionType.READY,
                "Unknown",
                Reason.NOT_REGISTERED,
                "No edge agent has registered yet (`naksha edge bootstrap-token`).",
            )
    elif context.phase in (PHASE_AWAITING_APPROVAL, PHASE_NOT_REGISTERED, admission.PHASE_ACCEPTED):
        context.phase = context.old_status.get("lease") or context.phase


def revocation(context: ReconcileContext) -> None:
    """An Event when the credentials are revoked; the hub refuses the node's next call."""
    spec = cast(EdgeNodeSpec, context.spec)
    if spec.credentials.revoked and not context.old_status.get("revoked"):
        context.event(
            "Warning", Reason.NODE_REVOKED, "Credentials revoked: the hub refuses every call of this node."
        )
    context.extra_status["revoked"] = spec.credentials.revoked


def outstanding_triggers(context: ReconcileContext) -> None:
    try:
        context.extra_status["pendingTriggers"] = pending_triggers(
            context.api(), context.namespace, context.name
        )
    except KubeError as error:
        # Informative only: a failed count must not hold admission back.
        context.event("Warning", "TriggerCountFailed", f"pending trigger requests not counted: {error}")


STEPS: tuple[Step, ...] = (
    admission.validate_spec,
    admission.accept,
    registration,
    revocation,
    outstanding_triggers,
)


def reconcile(context: ReconcileContext) -> ReconcileContext:
    return run_steps(context, STEPS)
