"""The ``naksha`` command: one binary (and one image) for every role.

The CLI owns all printing and exit codes. Each area lives in ``naksha/cli/<area>.py`` with a
``register(commands)`` that adds its subcommands; ``_parser`` calls them in order. Areas import
what their commands need when they run, so ``naksha insight-worker`` loads no operator (no kopf).

``naksha operator``                       run the kopf operator (kubeconfig or in-cluster config)
``naksha crds [--out DIR]``               write the CRDs (and API reference) generated from the models
``naksha rbac [--root DIR]``              write the operator's RBAC (manifests/, the chart)
``naksha local up --kubeconfig P``        run the local control plane in the foreground
                                          (``--backend real``: etcd + kube-apiserver + controllers)
``naksha demo``                           the closed loop as a story in scenes on the local control plane
``naksha report --out DIR``               the capability reports D.1-D.6 from live state
``naksha snapshot --phase D``             the phase snapshot (version, kinds, reports, benchmarks, tests)
``naksha completion bash|zsh``            a shell completion script (``kubectl naksha`` is the same command)
``naksha insight-worker``                 one InsightStream worker (the operator's pods run it)
``naksha demo-app``                       a service with a settable error rate and latency
``naksha rollout promote|abort|retry|status NAME``   steer a Rollout, or show it
``naksha wpk list``                       the work packages, their parameters and RBAC
``naksha agent approve|reject NAME``      decide on an AgentRun waiting for approval
``naksha agent token --subject S``        mint an HS256 token for the AgentRun HTTP API
``naksha agent-run NAME``                 drive one AgentRun to its end (the executor Job's pod)
``naksha train``, ``naksha model promote|rollback|list``, ``naksha label anomaly``,
``naksha export outcomes``                the learning loop (``naksha/cli/learning.py``)
``naksha hub | edge-agent``               the federation hub, an edge agent (``cli/federation.py``)
``naksha edge bootstrap-token|approve|registry``   EdgeNodes: registration tokens, approval, registry
``naksha chaos run|abort|journal NAME``   start a ChaosExperiment run, abort it, print its journal

Exit codes: 0 done, 1 the object or a binary is missing, 2 bad usage or configuration, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from naksha import __version__
from naksha.cli import (
    agent,
    chaos,
    chaos_helper,
    completion,
    demo,
    federation,
    insight,
    learning,
    local,
    operator,
    report,
    rollout,
)
from naksha.errors import ConfigError


def main(argv: Sequence[str] | None = None, prog: str = "naksha") -> int:
    parser = _parser(prog)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except ConfigError as error:
        print(f"{prog}: configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser(prog: str = "naksha") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"naksha {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for area in (
        operator,
        local,
        demo,
        report,
        insight,
        rollout,
        agent,
        learning,
        federation,
        chaos,
        chaos_helper,
        completion,
    ):
        area.register(commands)
    return parser
