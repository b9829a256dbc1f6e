"""The rollback-rollout work package: ask a Rollout to abort and return to its stable revision.

The package records the request on the Rollout (``naksha.io/abort`` with the reason, and who
asked); the Rollout controller performs the rollback (canary down, stable restored, spec
reverted in the cluster and in the GitOps repo). Asking is idempotent: a replayed plan writes
the same annotations. It is not reversible: undoing a rollback is a new rollout (``retry``).
"""

from __future__ import annotations

from pydantic import Field

from naksha.controllers.agentrun.wpk import Plan, Result, WorkPackage, WpkContext, WpkError, register
from naksha.domain.rollout import controls
from naksha.kube import NotFound
from naksha.models.common import NakshaModel
from naksha.models.resources import ROLLOUTS


class RollbackParams(NakshaModel):
    reason: str = Field(
        default="", max_length=512, description="Shown in the Rollout's RolledBack condition and commit."
    )


def _plan_rollback(context: WpkContext, params: RollbackParams) -> Plan:
    target = context.require_target("Rollout")
    namespace = context.target_namespace()
    try:
        rollout = context.kube.get(ROLLOUTS, namespace, target.name)
    except NotFound:
        raise WpkError(f"Rollout {namespace}/{target.name} does not exist") from None
    status = rollout.get("status") or {}
    return {
        "reason": params.reason or f"AgentRun {context.namespace}/{context.run_name} asked for a rollback",
        "requestedBy": f"{context.namespace}/{context.run_name}",
        "revision": status.get("currentRevision"),
        "stableRevision": status.get("stableRevision"),
    }


def _apply_rollback(context: WpkContext, params: RollbackParams, plan: Plan) -> Result:
    target = context.require_target("Rollout")
    annotations = {controls.ABORT: plan["reason"], controls.ABORT_REQUESTED_BY: plan["requestedBy"]}
    context.kube.merge_patch(
        ROLLOUTS,
        context.target_namespace(),
        target.name,
        {"metadata": {"annotations": annotations}},
        dry_run=context.dry_run,
    )
    return {
        "abortRequested": True,
        "revision": plan["revision"],
        "stableRevision": plan["stableRevision"],
    }


register(
    WorkPackage(
        "rollback-rollout",
        "1.0",
        "Abort a Rollout: its controller scales the canary down and reverts it to the stable revision.",
        RollbackParams,
        "act",
        ("naksha.io/rollouts: get, patch",),
        _plan_rollback,
        _apply_rollback,
    )
)
