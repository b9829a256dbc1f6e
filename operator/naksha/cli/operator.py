"""``naksha operator``, ``naksha crds``, ``naksha rbac``: run the operator, write what deploys it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    operator = commands.add_parser("operator", help="run the operator")
    operator.add_argument("--namespace", "-n", action="append", default=[], help="watch only these")
    operator.add_argument("--verbose", action="store_true", help="debug logging")
    operator.set_defaults(run=_run_operator)

    crds = commands.add_parser(
        "crds", help="write the CRDs (and the API reference) generated from the models"
    )
    crds.add_argument("--out", type=Path, action="append", default=[], help="directory (repeatable)")
    crds.add_argument("--reference", type=Path, default=None, help="also write the API reference here")
    crds.set_defaults(run=_run_crds)

    rbac = commands.add_parser("rbac", help="write manifests/rbac.yaml and the chart's ClusterRole")
    rbac.add_argument("--root", type=Path, default=Path("."), help="the repository's root")
    rbac.set_defaults(run=_run_rbac)


def _run_operator(args: argparse.Namespace) -> int:
    from naksha.operator import run_operator

    return run_operator(namespaces=tuple(args.namespace), verbose=bool(args.verbose))


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
