"""``naksha rollout promote|abort|retry|status NAME`` and ``naksha demo-app``.

The controls are annotations the Rollout controller honours (``naksha.domain.rollout.controls``);
``demo-app`` is the service the demos roll out.
"""

from __future__ import annotations

import argparse
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


def register(commands: Any) -> None:
    demo_app = commands.add_parser(
        "demo-app", help="a small HTTP service with a settable error rate and latency (NAKSHA_DEMO_*)"
    )
    demo_app.add_argument("--port", type=int, default=None, help="default: NAKSHA_DEMO_PORT or 8080")
    demo_app.set_defaults(run=_run_demo_app)

    rollout = commands.add_parser("rollout", help="Rollouts: promote, abort, retry, status")
    rollout_commands = rollout.add_subparsers(dest="rollout_command", metavar="COMMAND", required=True)
    for verb, text in (
        ("promote", "leave a pause and go on"),
        ("abort", "roll back to the stable revision"),
        ("retry", "try a rolled-back revision again"),
        ("status", "show phase, revisions, step, analysis and rollback"),
    ):
        command = rollout_commands.add_parser(verb, help=text)
        command.add_argument("name")
        command.add_argument("--namespace", "-n", default="default")
        if verb == "abort":
            command.add_argument(
                "--reason", default=None, help="recorded in the rollback and the revert commit"
            )
        command.set_defaults(run=_run_rollout, verb=verb)


def _run_demo_app(args: argparse.Namespace) -> int:
    from naksha.services.demo_app.app import run_demo_app

    return run_demo_app(args.port)


def _run_rollout(args: argparse.Namespace) -> int:
    if args.verb == "status":
        return show(args.name, args.namespace)
    return send(args.verb, args.name, args.namespace, getattr(args, "reason", None))
