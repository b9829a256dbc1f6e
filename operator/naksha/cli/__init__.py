"""The ``naksha`` command: one binary (and one image) for every role.

Command groups of their own live in ``naksha/cli/<area>.py``, each with a ``register(commands)``
function that adds its subparsers; ``_parser`` calls them in order.

``naksha operator``                  run the kopf operator against the current kubeconfig/in-cluster config
``naksha local up --kubeconfig P``   run the local control plane in the foreground (``--backend real``:
                                     etcd + kube-apiserver + controllers + the node agent)
``naksha demo``                      local control plane + operator + CRDs + samples, then a summary
``naksha demo-app``                  a service with a settable error rate and latency, to roll out
``naksha crds [--out DIR]``          write the CRDs generated from the models
``naksha rbac [--root DIR]``         write the operator's RBAC (manifests/, the chart) from its rules
``naksha chaos run|abort|journal N`` start a ChaosExperiment run, abort it, print its journal
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from naksha import __version__
from naksha.cli import chaos
from naksha.errors import ConfigError

if TYPE_CHECKING:
    from naksha.local import LocalControlPlane
    from naksha.local.real import RealControlPlane


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except ConfigError as error:
        print(f"naksha: configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="naksha", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"naksha {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    operator = commands.add_parser("operator", help="run the operator")
    operator.add_argument("--namespace", "-n", action="append", default=[], help="watch only these")
    operator.add_argument("--verbose", action="store_true", help="debug logging")
    operator.set_defaults(run=_run_operator)

    local = commands.add_parser("local", help="the local control plane")
    local_commands = local.add_subparsers(dest="local_command", metavar="COMMAND", required=True)
    up = local_commands.add_parser("up", help="run the local control plane until Ctrl-C")
    up.add_argument("--kubeconfig", type=Path, required=True, help="where to write its kubeconfig")
    up.add_argument("--port", type=int, default=0, help="API port on 127.0.0.1 (default: any free port)")
    up.add_argument("--state-dir", type=Path, default=None, help="pod logs and kubelet state")
    up.add_argument("--no-kubelet", action="store_true", help="serve the API only; run no pods")
    up.add_argument("--access-log", action="store_true", help="log every request (slows the API)")
    up.add_argument(
        "--authorization-mode",
        choices=("rbac", "always-allow"),
        default="rbac",
        help="rbac (default): Roles and bindings decide, as on a cluster; always-allow: anyone logged in",
    )
    up.add_argument(
        "--host-network",
        action="store_true",
        help="run pods on the host's loopback, without network namespaces (pods' ports may collide)",
    )
    up.add_argument(
        "--backend",
        choices=("emulator", "real"),
        default="emulator",
        help="emulator (default) or real: etcd, kube-apiserver, controllers (built by make real-apiserver)",
    )
    up.add_argument("--build", action="store_true", help="with --backend real: build the binaries if missing")
    up.set_defaults(run=_run_local_up)

    demo = commands.add_parser("demo", help="run the demo on the local control plane")
    demo.add_argument("--state-dir", type=Path, default=Path(".state/demo"))
    demo.add_argument("--crds", type=Path, default=Path("crds"), help="directory of CRD files")
    demo.add_argument("--samples", type=Path, default=Path("crds/samples"), help="samples to apply")
    demo.add_argument("--keep", action="store_true", help="keep running until Ctrl-C")
    demo.set_defaults(run=_run_demo)

    worker = commands.add_parser(
        "insight-worker", help="run one InsightStream worker (configured by the operator through env)"
    )
    worker.set_defaults(run=_run_insight_worker)

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

    crds = commands.add_parser(
        "crds", help="write the CRDs (and the API reference) generated from the models"
    )
    crds.add_argument("--out", type=Path, action="append", default=[], help="directory (repeatable)")
    crds.add_argument("--reference", type=Path, default=None, help="also write the API reference here")
    crds.set_defaults(run=_run_crds)

    chaos.register(commands)

    rbac = commands.add_parser("rbac", help="write manifests/rbac.yaml and the chart's ClusterRole")
    rbac.add_argument("--root", type=Path, default=Path("."), help="the repository's root")
    rbac.set_defaults(run=_run_rbac)
    return parser


def _run_demo_app(args: argparse.Namespace) -> int:
    from naksha.rollout.demo_app import run_demo_app

    return run_demo_app(args.port)


def _run_rollout(args: argparse.Namespace) -> int:
    from naksha.rollout import commands

    if args.verb == "status":
        return commands.show(args.name, args.namespace)
    return commands.send(args.verb, args.name, args.namespace, getattr(args, "reason", None))


def _run_wpk_list(args: argparse.Namespace) -> int:
    from naksha.agent.wpk import describe_registry

    print(describe_registry())
    return 0


def _run_agent_verdict(args: argparse.Namespace) -> int:
    from naksha.agent.guardrails import APPROVAL
    from naksha.kube import Kube, NotFound, resource_for
    from naksha.models.group import API_VERSION

    value = "approved" if args.verdict == "approve" else "rejected"
    try:
        Kube().merge_patch(
            resource_for(API_VERSION, "AgentRun"),
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
    from naksha.agent import tokens
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
    from naksha.agent.executor import run_in_process

    return run_in_process(args.name, args.namespace)


def _run_insight_worker(args: argparse.Namespace) -> int:
    from naksha.insight.worker import run_insight_worker

    return run_insight_worker()


def _run_operator(args: argparse.Namespace) -> int:
    from naksha.operator import run_operator

    return run_operator(namespaces=tuple(args.namespace), verbose=bool(args.verbose))


def _run_local_up(args: argparse.Namespace) -> int:
    from naksha.local import LocalControlPlane

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.access_log:
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    plane: LocalControlPlane | RealControlPlane
    if args.backend == "real":
        from naksha.local.real import BinariesMissing, RealControlPlane, ensure

        if args.port:
            print(
                "naksha local up: --port applies to the emulator; the real backend picks free ports",
                file=sys.stderr,
            )
            return 2
        try:
            binaries = ensure(build=args.build)
        except BinariesMissing as error:
            print(f"naksha local up: {error}", file=sys.stderr)
            return 1
        plane = RealControlPlane(
            state_dir=args.state_dir,
            kubeconfig=args.kubeconfig,
            kubelet=not args.no_kubelet,
            binaries=binaries,
        )
    else:
        plane = LocalControlPlane(
            port=args.port,
            state_dir=args.state_dir,
            kubeconfig=args.kubeconfig,
            kubelet=not args.no_kubelet,
            authorization_mode=args.authorization_mode,
            isolate_pods=not args.host_network,
        )
    plane.start()
    print(f"local control plane at {plane.url}; kubeconfig {plane.kubeconfig_path}", flush=True)
    print(f"try: kubectl --kubeconfig {plane.kubeconfig_path} get namespaces   (Ctrl-C stops)", flush=True)
    plane.run_forever()
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from naksha.demo import run_demo

    return run_demo(state_dir=args.state_dir, crds=args.crds, samples=args.samples, keep=bool(args.keep))


def _run_crds(args: argparse.Namespace) -> int:
    from naksha.models.crdgen import write_all

    directories = args.out or [Path("crds")]
    for path in write_all(*directories):
        print(path)
    if args.reference is not None:
        from naksha.models.docgen import render_reference

        args.reference.write_text(render_reference())
        print(args.reference)
    return 0


def _run_rbac(args: argparse.Namespace) -> int:
    from naksha.workloads.rbac_files import write

    for path in write(args.root):
        print(path)
    return 0
