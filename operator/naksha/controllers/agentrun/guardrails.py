"""Guardrails around an AgentRun's actions: where it may act, how often, one run per target, approval.

Every refusal is a ``Refusal`` with a CamelCase reason; the engine ends the run ``Refused`` with it
(a condition and a Warning Event). State the guardrails need lives on the target itself, in
annotations, so it survives operator restarts and is visible with ``kubectl describe``:
``naksha.io/agent-run`` (the run acting on it) and ``naksha.io/agent-actions`` (recent actions,
for the rate limit: a JSON object from each action's idempotency key to its time, so an action
replayed after a crash between taking the lock and checkpointing its plan is counted once).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from naksha.errors import NakshaError
from naksha.kube import Conflict, Kube, KubeError, NotFound, resource_for
from naksha.models import timestamps
from naksha.models.agentrun import Approval
from naksha.models.common import ObjectTarget, parse_duration
from naksha.models.labels import AGENT_RUN_LOCK, APPROVAL, RECENT_ACTIONS
from naksha.models.resources import AGENT_RUNS
from naksha.settings import OperatorSettings

LOCK_ATTEMPTS = 3
FINISHED = ("Succeeded", "Failed", "Rejected", "Refused")


class Refusal(NakshaError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_allowed(settings: OperatorSettings, namespace: str, target: ObjectTarget | None) -> None:
    if settings.agent_namespaces and namespace not in settings.agent_namespaces:
        raise Refusal(
            "NamespaceNotAllowed",
            f"runs may not act in namespace {namespace} (allowed: {', '.join(settings.agent_namespaces)})",
        )
    if target is not None:
        where = target.namespace or namespace
        if target.namespace and settings.agent_namespaces and where not in settings.agent_namespaces:
            raise Refusal("NamespaceNotAllowed", f"the target's namespace {where} is not allowed")
        if target.kind not in settings.agent_kinds:
            raise Refusal(
                "KindNotAllowed",
                f"runs may not act on {target.kind} (allowed: {', '.join(settings.agent_kinds)})",
            )


def check_target_exists(kube: Kube, namespace: str, target: ObjectTarget | None) -> None:
    """Refuse a run whose target does not exist: nothing it could observe or do would make sense."""
    if target is None:
        return
    where = target.namespace or namespace
    try:
        kube.get(_ref(target), where, target.name)
    except NotFound:
        raise Refusal("TargetNotFound", f"{target.kind} {where}/{target.name} does not exist") from None


def before_action(
    kube: Kube,
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
        raise Refusal("KillSwitch", "the operator's kill switch is on: no run may act")
    if target is None or dry_run:
        return None
    for _attempt in range(LOCK_ATTEMPTS):
        try:
            return _lock(kube, settings, namespace, run, target, clock, key)
        except Conflict:
            continue  # the target changed under us: read it again
    raise Refusal("TargetBusy", f"{target.kind} {target.name} kept changing; could not take its lock")


def _lock(
    kube: Kube,
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
        raise Refusal("TargetNotFound", f"{target.kind} {where}/{target.name} does not exist") from None
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    holder = annotations.get(AGENT_RUN_LOCK)
    me = f"{namespace}/{run}"
    if holder and holder != me and _still_running(kube, holder):
        raise Refusal(
            "TargetBusy", f"{target.kind} {where}/{target.name} is being acted on by AgentRun {holder}"
        )
    now = clock()
    recent = {
        action: at
        for action, at in _recent_actions(annotations.get(RECENT_ACTIONS)).items()
        if now - at < settings.agent_rate_window
    }
    if not key or key not in recent:  # a replay of a counted action is not counted again
        if len(recent) >= settings.agent_rate_limit:
            raise Refusal(
                "RateLimited",
                f"{target.kind} {where}/{target.name} had {len(recent)} actions in the last "
                f"{settings.agent_rate_window:.0f}s (limit {settings.agent_rate_limit})",
            )
        recent[key or f"{me}@{now:.3f}"] = round(now, 3)
    patch = {
        "metadata": {
            "resourceVersion": metadata.get("resourceVersion"),
            "annotations": {AGENT_RUN_LOCK: me, RECENT_ACTIONS: json.dumps(recent, sort_keys=True)},
        }
    }
    return kube.merge_patch(ref, where, target.name, patch)


def release(kube: Kube, namespace: str, run: str, target: ObjectTarget | None) -> None:
    """Drop the run's lock on its target, in one request that fails harmlessly if it is not held."""
    if target is None:
        return
    path = "/metadata/annotations/" + AGENT_RUN_LOCK.replace("~", "~0").replace("/", "~1")
    operations = [{"op": "test", "path": path, "value": f"{namespace}/{run}"}, {"op": "remove", "path": path}]
    # A failure means the target is gone, unknown, or held by someone else: nothing of ours is held.
    with contextlib.suppress(KubeError, Refusal):
        kube.json_patch(_ref(target), target.namespace or namespace, target.name, operations)


def approval(
    meta: Mapping[str, Any], spec: Approval, started_at: str | None, clock: Callable[[], float]
) -> Literal["approved", "rejected", "pending", "expired"]:
    verdict = ((meta.get("annotations") or {}).get(APPROVAL) or "").strip().lower()
    if verdict in ("approved", "rejected"):
        return "approved" if verdict == "approved" else "rejected"
    if started_at:
        started = timestamps.to_seconds(started_at)
        if clock() - started > parse_duration(spec.timeout):
            return "expired"
    return "pending"


def conditions(
    phase: str, message: str, reason: str | None, clock: Callable[[], float]
) -> list[dict[str, Any]]:
    stamp = timestamps.to_text(clock())

    def condition(kind: str, ok: bool, why: str) -> dict[str, Any]:
        return {
            "type": kind,
            "status": "True" if ok else "False",
            "reason": why,
            "message": message,
            "lastTransitionTime": stamp,
        }

    found = [{**condition("Accepted", True, "SpecValid"), "message": "The spec is valid."}]
    if phase == "AwaitingApproval":
        found.append(condition("AwaitingApproval", True, "ApprovalRequired"))
    elif phase in ("Running", "Pending"):
        found.append(condition("Progressing", True, "Running"))
    else:
        found.append(condition("Completed", True, reason or phase))
        if phase == "Refused":
            found.append(condition("Refused", True, reason or "Refused"))
    return found


def _ref(target: ObjectTarget) -> Any:
    try:
        return resource_for(target.api_version, target.kind)
    except KeyError as error:
        raise Refusal("KindNotAllowed", str(error.args[0])) from None


def _still_running(kube: Kube, holder: str) -> bool:
    namespace, _, name = holder.partition("/")
    try:
        run = kube.get(AGENT_RUNS, namespace, name)
    except NotFound:
        return False
    return (run.get("status") or {}).get("phase") not in FINISHED


def _recent_actions(raw: str | None) -> dict[str, float]:
    """Action key -> time. A list of bare timestamps (written before keys were) keeps counting."""
    try:
        values = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if isinstance(values, list):
        values = {f"earlier-{i}": v for i, v in enumerate(values)}
    if not isinstance(values, dict):
        return {}
    return {str(k): float(v) for k, v in values.items() if isinstance(v, int | float)}
