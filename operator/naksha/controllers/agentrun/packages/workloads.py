"""Work packages that change workloads: scale, restart, delete-pod, cordon-edge, patch, annotate.

Each plans absolute values before acting (see ``naksha.controllers.agentrun.wpk``), so applying a recorded
plan again after a crash is a no-op, and the reversible ones keep what they replace.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from naksha.controllers.agentrun.wpk import Plan, Result, WorkPackage, WpkContext, WpkError, register
from naksha.kube import Conflict, NotFound, resource_for
from naksha.models import timestamps
from naksha.models.common import FreeForm, NakshaModel
from naksha.models.labels import RESTARTED_AT
from naksha.models.resources import EDGE_NODES, PODS

PATCHABLE = ("Deployment", "ConfigMap", "Rollout", "EdgeNode", "InsightStream")


def _target_ref(context: WpkContext, *kinds: str) -> tuple[Any, str, str]:
    target = context.require_target(*kinds)
    try:
        ref = resource_for(target.api_version, target.kind)
    except KeyError as error:
        raise WpkError(str(error.args[0])) from None
    return ref, context.target_namespace(), target.name


def _get(context: WpkContext, ref: Any, namespace: str, name: str) -> dict[str, Any]:
    known = context.target_object
    if known is not None and known.get("kind") == ref.kind:
        meta = known.get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) == (namespace, name):
            return dict(known)
    try:
        return context.kube.get(ref, namespace, name)
    except NotFound:
        raise WpkError(f"{ref.kind} {namespace}/{name} does not exist") from None


# --- scale ---------------------------------------------------------------------------------------


class ScaleParams(NakshaModel):
    replicas: int | None = Field(default=None, ge=0, le=10_000, description="Absolute replica count.")
    delta: int | None = Field(default=None, ge=-1000, le=1000, description="Change from the current count.")
    min: int = Field(default=0, ge=0, le=10_000)
    max: int = Field(default=100, ge=1, le=10_000)


def _plan_scale(context: WpkContext, params: ScaleParams) -> Plan:
    if (params.replicas is None) == (params.delta is None):
        raise WpkError("scale needs exactly one of replicas or delta")
    ref, namespace, name = _target_ref(context, "Deployment", "Rollout")
    current = int((_get(context, ref, namespace, name).get("spec") or {}).get("replicas", 1))
    wanted = params.replicas if params.replicas is not None else current + (params.delta or 0)
    return {"previous": current, "replicas": max(params.min, min(params.max, wanted))}


def _apply_scale(context: WpkContext, params: ScaleParams, plan: Plan) -> Result:
    ref, namespace, name = _target_ref(context, "Deployment", "Rollout")
    patched = context.kube.merge_patch(
        ref, namespace, name, {"spec": {"replicas": plan["replicas"]}}, dry_run=context.dry_run
    )
    return {"replicas": patched["spec"]["replicas"], "previous": plan["previous"]}


def _revert_scale(context: WpkContext, params: ScaleParams, plan: Plan) -> Result:
    ref, namespace, name = _target_ref(context, "Deployment", "Rollout")
    context.kube.merge_patch(
        ref, namespace, name, {"spec": {"replicas": plan["previous"]}}, dry_run=context.dry_run
    )
    return {"replicas": plan["previous"]}


register(
    WorkPackage(
        "scale",
        "1.0",
        "Set a Deployment's or Rollout's replicas (absolute or by delta, clamped to min/max).",
        ScaleParams,
        "act",
        ("apps/deployments: get, patch", "naksha.io/rollouts: get, patch"),
        _plan_scale,
        _apply_scale,
        _revert_scale,
    )
)


# --- restart -------------------------------------------------------------------------------------


class NoParams(NakshaModel):
    """A work package that takes no parameters (any given one is refused when the playbook loads)."""


def _plan_restart(context: WpkContext, params: NoParams) -> Plan:
    _get(context, *_target_ref(context, "Deployment"))
    stamp = timestamps.to_text(context.clock())
    return {"restartedAt": stamp}


def _apply_restart(context: WpkContext, params: NoParams, plan: Plan) -> Result:
    # The same annotation as `kubectl rollout restart`: a template change rolls every pod, once.
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: plan["restartedAt"]}}}}}
    ref, namespace, name = _target_ref(context, "Deployment")
    context.kube.merge_patch(ref, namespace, name, patch, dry_run=context.dry_run)
    return {"restartedAt": plan["restartedAt"]}


register(
    WorkPackage(
        "restart",
        "1.0",
        "Rolling restart of a Deployment (a template annotation, as kubectl rollout restart).",
        NoParams,
        "act",
        ("apps/deployments: get, patch",),
        _plan_restart,
        _apply_restart,
    )
)


# --- delete-pod ----------------------------------------------------------------------------------


class DeletePodParams(NakshaModel):
    name: str | None = Field(
        default=None, description="The pod; default: the target Deployment's least healthy."
    )


def _plan_delete_pod(context: WpkContext, params: DeletePodParams) -> Plan:
    namespace = context.target_namespace()
    if params.name:
        pod = _get(context, PODS, namespace, params.name)
    else:
        deployment = _get(context, *_target_ref(context, "Deployment"))
        labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        pods = context.kube.list(PODS, namespace, label_selector=selector)
        if not pods:
            raise WpkError(f"Deployment {namespace}/{deployment['metadata']['name']} has no pods")
        pod = min(pods, key=lambda p: (_ready(p), p["metadata"].get("creationTimestamp", "")))
    return {"pod": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _apply_delete_pod(context: WpkContext, params: DeletePodParams, plan: Plan) -> Result:
    namespace = context.target_namespace()
    try:
        current = context.kube.get(PODS, namespace, plan["pod"])
    except NotFound:
        return {"pod": plan["pod"], "deleted": False, "reason": "already gone"}
    if current["metadata"]["uid"] != plan["uid"]:
        return {"pod": plan["pod"], "deleted": False, "reason": "replaced by a newer pod of that name"}
    if current["metadata"].get("deletionTimestamp"):
        # On a cluster a deleted pod stays, terminating, until its kubelet stopped it.
        return {"pod": plan["pod"], "deleted": False, "reason": "already being deleted"}
    context.kube.delete(PODS, namespace, plan["pod"], dry_run=context.dry_run)
    return {"pod": plan["pod"], "deleted": not context.dry_run}


register(
    WorkPackage(
        "delete-pod",
        "1.0",
        "Delete one pod (named, or the target Deployment's least healthy) so it is replaced.",
        DeletePodParams,
        "act",
        ("core/pods: get, list, delete",),
        _plan_delete_pod,
        _apply_delete_pod,
    )
)


# --- cordon-edge ---------------------------------------------------------------------------------


class CordonParams(NakshaModel):
    name: str | None = Field(default=None, description="The EdgeNode; default: the run's target.")


def _edge(context: WpkContext, params: CordonParams) -> tuple[str, str]:
    if params.name:
        return context.target_namespace(), params.name
    _, namespace, name = _target_ref(context, "EdgeNode")
    return namespace, name


def _plan_cordon(context: WpkContext, params: CordonParams) -> Plan:
    namespace, name = _edge(context, params)
    edge = _get(context, EDGE_NODES, namespace, name)
    return {"edge": name, "previous": bool((edge.get("spec") or {}).get("unschedulable", False))}


def _set_cordon(context: WpkContext, params: CordonParams, value: bool) -> Result:
    namespace, name = _edge(context, params)
    context.kube.merge_patch(
        EDGE_NODES, namespace, name, {"spec": {"unschedulable": value}}, dry_run=context.dry_run
    )
    return {"edge": name, "unschedulable": value}


register(
    WorkPackage(
        "cordon-edge",
        "1.0",
        "Mark an EdgeNode unschedulable, so no triggers are sent to it.",
        CordonParams,
        "act",
        ("naksha.io/edgenodes: get, patch",),
        _plan_cordon,
        lambda context, params, plan: _set_cordon(context, params, True),
        lambda context, params, plan: _set_cordon(context, params, plan["previous"]),
    )
)


# --- patch and annotate --------------------------------------------------------------------------


class PatchParams(NakshaModel):
    patch: FreeForm = Field(description="A JSON merge patch for the target.")


class AnnotateParams(NakshaModel):
    annotations: dict[str, str] = Field(min_length=1)


def inverse_merge_patch(current: Any, patch: Any) -> Any:
    """The merge patch that restores ``current`` after ``patch`` was applied to it."""
    if not isinstance(patch, dict):
        return current
    inverse: dict[str, Any] = {}
    for key, value in patch.items():
        before = current.get(key) if isinstance(current, dict) else None
        if isinstance(value, dict) and isinstance(before, dict):
            inverse[key] = inverse_merge_patch(before, value)
        else:
            inverse[key] = before  # None removes a key that did not exist
    return inverse


def _plan_patch(context: WpkContext, patch: dict[str, Any]) -> Plan:
    target = context.require_target(*PATCHABLE)
    current = _get(context, *_target_ref(context, target.kind))
    return {"patch": patch, "inverse": inverse_merge_patch(current, patch)}


def _apply_patch(context: WpkContext, plan: Plan, key: str) -> Result:
    target = context.require_target(*PATCHABLE)
    ref, namespace, name = _target_ref(context, target.kind)
    try:
        context.kube.merge_patch(ref, namespace, name, plan[key], dry_run=context.dry_run)
    except Conflict as error:
        raise WpkError(f"patching {target.kind} {namespace}/{name}: {error}") from None
    return {"patched": f"{target.kind}/{name}"}


register(
    WorkPackage(
        "patch",
        "1.0",
        f"JSON merge patch on the target (one of: {', '.join(PATCHABLE)}).",
        PatchParams,
        "act",
        ("the target's kind: get, patch",),
        lambda context, params: _plan_patch(context, dict(params.patch)),
        lambda context, params, plan: _apply_patch(context, plan, "patch"),
        lambda context, params, plan: _apply_patch(context, plan, "inverse"),
    )
)
register(
    WorkPackage(
        "annotate",
        "1.0",
        "Set annotations on the target (a record the team sees in kubectl describe).",
        AnnotateParams,
        "act",
        ("the target's kind: get, patch",),
        lambda context, params: _plan_patch(context, {"metadata": {"annotations": dict(params.annotations)}}),
        lambda context, params, plan: _apply_patch(context, plan, "patch"),
        lambda context, params, plan: _apply_patch(context, plan, "inverse"),
    )
)
