"""``naksha chaos-helper burn-cpu|kill-container``: what the ChaosExperiment helper pods run.

Exit codes: 0 done (``burn-cpu``: stopped by SIGTERM), 1 the container was not found,
2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(commands: Any) -> None:
    helper = commands.add_parser("chaos-helper", help="run inside ChaosExperiment helper pods")
    verbs = helper.add_subparsers(dest="helper_command", metavar="COMMAND", required=True)
    burn = verbs.add_parser("burn-cpu", help="keep CPUs busy until SIGTERM (cpu-stress)")
    burn.add_argument("--workers", type=int, default=1)
    burn.add_argument("--load", type=int, default=100, help="percent of each CPU kept busy")
    burn.set_defaults(run=_burn)
    kill = verbs.add_parser("kill-container", help="SIGKILL one container's main process (container-kill)")
    kill.add_argument("--container-id", required=True, help="as in the pod status: runtime://id")
    kill.set_defaults(run=_kill)


def _burn(args: argparse.Namespace) -> int:
    from naksha.services.chaos_helper import burn_cpu

    try:
        burn_cpu(args.workers, args.load)
    except ValueError as error:
        print(f"naksha: {error}", file=sys.stderr)
        return 2
    return 0


def _kill(args: argparse.Namespace) -> int:
    from naksha.services.chaos_helper import ContainerNotFound, kill_container

    try:
        pid = kill_container(args.container_id)
    except ContainerNotFound as error:
        print(f"naksha: {error}", file=sys.stderr)
        return 1
    print(f"container {args.container_id}: process {pid} killed")
    return 0
