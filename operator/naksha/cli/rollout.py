"""``naksha rollout promote|abort|retry|status NAME``: the controls, as annotations the controller honours."""

from __future__ import annotations

import sys
from typing import Any

from naksha.domain.rollout import controls
from naksha.kube import Kube, NotFound
from naksha.models.resources import ROLLOUTS

COMMANDS = {"promote": controls.PROMOTE, "abort": controls.ABORT, "retry": controls.RETRY}


def send(command: str, name: str, namespace: str, reason: str | None = None) -> int:
    value = (reason or "aborted with naksha rollout abort") if command == "abort" else "yes"
    try:
        Kube().merge_patch(
            ROLLOUTS, namespace, name, {"metadata": {"annotations": {COMMANDS[command]: value}}}
        )
    except NotFound:
        print(f"naksha: Rollout {namespace}/{name} not found", file=sys.stderr)
        return 1
    print(f"rollout.naksha.io/{name} {command} requested")
    return 0


def show(name: str, namespace: str) -> int:
    try:
        rollout = Kube().get(ROLLOUTS, namespace, name)
    except NotFound:
        print(f"naksha: Rollout {namespace}/{name} not found", file=sys.stderr)
        return 1
    print(describe(rollout))
    return 0


def describe(rollout: dict[str, Any]) -> str:
    status = rollout.get("status") or {}
    steps = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary", {}).get("steps") or []
    step = status.get("currentStepIndex")
    lines = [
        f"Rollout   {rollout['metadata']['namespace']}/{rollout['metadata']['name']}",
        f"Phase     {status.get('phase') or 'Pending'}",
        f"Message   {status.get('message') or ''}",
        f"Stable    {status.get('stableRevision') or '-'}",
        f"Current   {status.get('currentRevision') or '-'}",
        f"Step      {'-' if step is None else f'{step}/{len(steps)}'}"
        f"   weight {status.get('canaryWeight') or 0}%",
    ]
    for key, metric in sorted((status.get("analysis") or {}).items()):
        if metric:
            lines.append(
                f"Analysis  {key}: {metric.get('phase')} ({metric.get('successful', 0)} ok, "
                f"{metric.get('failed', 0)} failed, {metric.get('inconclusive', 0)} inconclusive)"
            )
    rollback = status.get("rollback")
    if rollback:
        gitops = rollback.get("gitops") or {}
        revisions = f"{rollback.get('badRevision')} → {rollback.get('stableRevision')}"
        lines.append(f"Rollback  {revisions}: {rollback.get('reason')}")
        if gitops.get("commit"):
            made = "made by this rollback" if gitops.get("created") else "an earlier rollback's"
            lines.append(f"GitOps    revert commit {gitops['commit']} ({made})")
        elif gitops.get("error"):
            lines.append(f"GitOps    failing ({gitops.get('failures', 1)}x): {gitops['error']}")
    return "\n".join(lines)
