"""EdgeNode reconciliation on the operator's side: admission, approval, revocation, pending triggers.

The hub (``naksha.services.hub``) owns the lease: ``Ready``, ``lastHeartbeatTime``, the node's
key and report. The operator admits the spec, says what a node waits for before it can register
(``AwaitingApproval`` under manual approval, ``NotRegistered`` before its first registration),
posts an Event when its credentials are revoked, and counts the trigger requests still waiting
for it. Steps, in order, over one ``ReconcileContext``; the status (``EdgeNodeStatus``) is
written once, by ``naksha.controllers.edgenode.status.write_status``, guarded by the
resourceVersion read so that it never writes over a ``Ready`` condition the hub wrote since.
The ``Ready`` condition is the hub's: this pass sets it only while no agent has registered and
the hub has not set it.
"""

from __future__ import annotations

from typing import cast

from naksha.controllers.edgenode.triggers import pending_triggers
from naksha.kube import KubeError
from naksha.models.conditions import ConditionType, Reason
from naksha.models.edgenode import EdgeNodeSpec, EdgeNodeStatus
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext, Step, run_steps

PHASE_AWAITING_APPROVAL = "AwaitingApproval"
PHASE_NOT_REGISTERED = "NotRegistered"


def _status(context: ReconcileContext) -> EdgeNodeStatus:
    return cast(EdgeNodeStatus, context.status)


def registration(context: ReconcileContext) -> None:
    """Before the hub registered a key: what the node waits for (the hub's phase wins after)."""
    spec = cast(EdgeNodeSpec, context.spec)
    hubs = EdgeNodeStatus.read(context.old_status)
    registered = bool(hubs.key_thumbprint)
    if not spec.approved:
        waiting = hubs.pending_key_thumbprint
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
        context.phase = hubs.lease or context.phase


def revocation(context: ReconcileContext) -> None:
    """An Event when the credentials are revoked; the hub refuses the node's next call."""
    spec = cast(EdgeNodeSpec, context.spec)
    if spec.credentials.revoked and not EdgeNodeStatus.read(context.old_status).revoked:
        context.event(
            "Warning", Reason.NODE_REVOKED, "Credentials revoked: the hub refuses every call of this node."
        )
    _status(context).revoked = spec.credentials.revoked


def outstanding_triggers(context: ReconcileContext) -> None:
    try:
        _status(context).pending_triggers = pending_triggers(context.api(), context.namespace, context.name)
    except KubeError as error:
        # Informative only: a failed count must not hold admission back.
        context.event(
            "Warning", Reason.TRIGGER_COUNT_FAILED, f"pending trigger requests not counted: {error}"
        )


STEPS: tuple[Step, ...] = (
    admission.validate_spec,
    admission.accept,
    registration,
    revocation,
    outstanding_triggers,
)


def reconcile(context: ReconcileContext) -> ReconcileContext:
    return run_steps(context, STEPS)
