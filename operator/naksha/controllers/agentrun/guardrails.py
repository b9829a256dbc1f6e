"""Guardrails around an AgentRun's actions: where it may act, how often, one run per target, approval.

This module reads and writes what the guardrails need; their decisions are pure, in
``naksha.domain.agentrun.guardrails`` (re-exported here for the engine, the fence and the API).

Every refusal is a ``Refusal`` with a CamelCase reason; the engine ends the run ``Refused`` with it
(a condition and a Warning Event). State the guardrails need lives on the target itself, in
annotations, so it survives operator restarts and is visible with ``kubectl describe``:
``naksha.io/agent-run`` (the run acting on it) and ``naksha.io/agent-actions`` (recent actions,
for the rate limit: a JSON object from each action's idempotency key to its time, so an action
replayed after a crash between taking the lock and checkpointing its plan is counted once).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from naksha.domain.agentrun.guardrails import (
    APPROVAL,
    LOCK,
    RECENT_ACTIONS,
    RateLimit,
    Refusal,
    approval,
    lock_annotations,
)
from naksha.kube import Conflict, KubeApi, KubeError, NotFound, resource_for
from naksha.models.common import ObjectTarget
from naksha.models.conditions import Reason
from naksha.models.resources import AGENT_RUNS
from naksha.settings import OperatorSettings

LOCK_ATTEMPTS = 3
FINISHED = ("Succeeded", "Failed", "Rejected", "Refused")


def check_allowed(settings: OperatorSettings, namespace: str, target: ObjectTarget | None) -> None:
    if settings.agent_namespaces and namespace not in settings.agent_namespaces:
        raise Refusal(
            Reason.NAMESPACE_NOT_ALLOWED,
            f"runs may not act in namespace {namespace} (allowed: {', '.join(settings.agent_namespaces)})",
        )
    if target is not None:
        where = target.namespace or namespace
        if target.namespace and settings.agent_namespaces and where not in settings.agent_namespaces:
            raise Refusal(Reason.NAMESPACE_NOT_ALLOWED, f"the target's namespace {where} is not allowed")
        if target.kind not in settings.agent_kinds:
            raise Refusal(
                Reason.KIND_NOT_ALLOWED,
                f"runs may not act on {target.kind} (allowed: {', '.join(settings.agent_kinds)})",
            )


def check_target_exists(kube: KubeApi, namespace: str, target: ObjectTarget | None) -> None:
    """Refuse a run whose target does not exist: nothing it could observe or do would make sense."""
    if target is None:
        return
    where = target.namespace or namespace
    try:
        kube.get(_ref(target), where, target.name)
    except NotFound:
        raise Refusal(
            Reason.TARGET_NOT_FOUND, f"{target.kind} {where}/{target.name} does not exist"
        ) from None


def before_action(
    kube: KubeApi,
    settings: OperatorSettings,
    namespace: str,
    run: str,
    target: ObjectTarget | None,
    clock: Callable[[], float],
    *,
    dry_run: bool,
    key: str = "",
) -> dict[str, Any] | None:
    """Refuse, or take the target's lock and count the action against its rate limit.

    Returns the target as the lock left it (the action's plan can start from it), or None when
    there is no target or nothing is written (dry run). The lock is written with the
    resourceVersion that was read, so two runs racing for one target cannot both take it.
    """
    if settings.kill_switch:
        raise Refusal(Reason.KILL_SWITCH, "the operator's kill switch is on: no run may act")
    if target is None or dry_run:
        return None
    for _attempt in range(LOCK_ATTEMPTS):
        try:
            return _lock(kube, settings, namespace, run, target, clock, key)
        except Conflict:
            continue  # the target changed under us: read it again
    raise Refusal(Reason.TARGET_BUSY, f"{target.kind} {target.name} kept changing; could not take its lock")


def _lock(
    kube: KubeApi,
    settings: OperatorSettings,
    namespace: str,
    run: str,
    target: ObjectTarget,
    clock: Callable[[], float],
    key: str,
) -> dict[str, Any]:
    ref = _ref(target)
    where = target.namespace or namespace
    try:
        obj = kube.get(ref, where, target.name)
    except NotFound:
        raise Refusal(
            Reason.TARGET_NOT_FOUND, f"{target.kind} {where}/{target.name} does not exist"
        ) from None
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    me, holder = f"{namespace}/{run}", annotations.get(LOCK)
    written = lock_annotations(
        annotations,
        me=me,
        holder_running=bool(holder and holder != me and _still_running(kube, holder)),
        now=clock(),
        limit=RateLimit(settings.agent_rate_limit, settings.agent_rate_window),
        key=key,
        what=f"{target.kind} {where}/{target.name}",
    )
    patch = {"metadata": {"resourceVersion": metadata.get("resourceVersion"), "annotations": written}}
    return kube.merge_patch(ref, where, target.name, patch)


def release(kube: KubeApi, namespace: str, run: str, target: ObjectTarget | None) -> None:
    """Drop the run's lock on its target, in one request that fails harmlessly if it is not held."""
    if target is None:
        return
    path = "/metadata/annotations/" + LOCK.replace("~", "~0").replace("/", "~1")
    operations = [{"op": "test", "path": path, "value": f"{namespace}/{run}"}, {"op": "remove", "path": path}]
    # A failure means the target is gone, unknown, or held by someone else: nothing of ours is held.
    with contextlib.suppress(KubeError, Refusal):
        kube.json_patch(_ref(target), target.namespace or namespace, target.name, operations)


def _ref(target: ObjectTarget) -> Any:
    try:
        return resource_for(target.api_version, target.kind)
    except KeyError as error:
        raise Refusal(Reason.KIND_NOT_ALLOWED, str(error.args[0])) from None


def _still_running(kube: KubeApi, holder: str) -> bool:
    namespace, _, name = holder.partition("/")
    try:
        run = kube.get(AGENT_RUNS, namespace, name)
    except NotFound:
        return False
    return (run.get("status") or {}).get("phase") not in FINISHED


__all__ = [
    "APPROVAL",
    "LOCK",
    "RECENT_ACTIONS",
    "Refusal",
    "approval",
    "before_action",
    "check_allowed",
    "check_target_exists",
    "release",
]
