"""``naksha wpk list``, ``naksha agent approve|reject|token``, ``naksha agent-run``: AgentRuns."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(commands: Any) -> None:
    wpk = commands.add_parser("wpk", help="work packages")
    wpk_commands = wpk.add_subparsers(dest="wpk_command", metavar="COMMAND", required=True)
    wpk_commands.add_parser("list", help="print the registry of work packages").set_defaults(
        run=_run_wpk_list
    )

    agent = commands.add_parser("agent", help="AgentRuns")
    agent_commands = agent.add_subparsers(dest="agent_command", metavar="COMMAND", required=True)
    for verdict in ("approve", "reject"):
        command = agent_commands.add_parser(verdict, help=f"{verdict} an AgentRun waiting for approval")
        command.add_argument("name")
        command.add_argument("--namespace", "-n", default="default")
        command.set_defaults(run=_run_agent_verdict, verdict=verdict)

    token = agent_commands.add_parser(
        "token",
        help="mint a shared-secret token for the AgentRun HTTP API in NAKSHA_API_AUTH=hs256 mode "
        "(secret from NAKSHA_API_JWT_SECRET[_FILE])",
    )
    token.add_argument("--subject", required=True, help="who the token is for")
    token.add_argument(
        "--scope", action="append", choices=["agent:run", "agent:read"], help="repeatable; default both"
    )
    token.add_argument("--namespace", "-n", action="append", help="fence the token to these namespaces")
    token.add_argument("--ttl", default="1h", help="lifetime, e.g. 15m, 12h (default 1h)")
    token.set_defaults(run=_run_agent_token)

    agent_run = commands.add_parser(
        "agent-run", help="drive one AgentRun to its end (the executor-job pod's command)"
    )
    agent_run.add_argument("name")
    agent_run.add_argument("--namespace", "-n", default="default")
    agent_run.set_defaults(run=_run_agent_run)


def _run_wpk_list(args: argparse.Namespace) -> int:
    from naksha.controllers.agentrun.wpk import describe_registry

    print(describe_registry())
    return 0


def _run_agent_verdict(args: argparse.Namespace) -> int:
    from naksha.kube import Kube, NotFound
    from naksha.models.labels import APPROVAL
    from naksha.models.resources import AGENT_RUNS

    value = "approved" if args.verdict == "approve" else "rejected"
    try:
        Kube().merge_patch(
            AGENT_RUNS,
            args.namespace,
            args.name,
            {"metadata": {"annotations": {APPROVAL: value}}},
        )
    except NotFound:
        print(f"naksha: AgentRun {args.namespace}/{args.name} not found", file=sys.stderr)
        return 1
    print(f"agentrun.naksha.io/{args.name} {value}")
    return 0


def _run_agent_token(args: argparse.Namespace) -> int:
    from naksha.domain.agentrun import tokens
    from naksha.models.common import parse_duration
    from naksha.settings import shared_api_secret

    secret = shared_api_secret()
    if not secret:
        print("naksha: set NAKSHA_API_JWT_SECRET or NAKSHA_API_JWT_SECRET_FILE", file=sys.stderr)
        return 2
    try:
        minted = tokens.mint(
            secret,
            args.subject,
            scopes=tuple(args.scope or tokens.SCOPES),
            namespaces=args.namespace,
            ttl_seconds=parse_duration(args.ttl),
        )
    except ValueError as error:
        print(f"naksha: {error}", file=sys.stderr)
        return 2
    print(minted)
    return 0


def _run_agent_run(args: argparse.Namespace) -> int:
    from naksha.controllers.agentrun.executor import run_in_process

    return run_in_process(args.name, args.namespace)
