"""``naksha report`` and ``naksha snapshot``: the capability reports and the phase snapshot.

Both read the cluster the kubeconfig names (``KUBECONFIG``, ``--kubeconfig``, or in-cluster).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

JUNIT_HELP = "JUnit XML of a test run (repeatable; default reports/junit.xml and reports/junit-real.xml)"


def register(commands: Any) -> None:
    report = commands.add_parser("report", help="write the capability reports D.1-D.6 from live state")
    report.add_argument("--out", type=Path, default=Path("reports"), help="folder to write into")
    report.add_argument("--kubeconfig", type=Path, default=None, help="default: $KUBECONFIG or in-cluster")
    report.add_argument("--junit", type=Path, action="append", default=[], help=JUNIT_HELP)
    report.set_defaults(run=run_report)

    snapshot = commands.add_parser("snapshot", help="write the phase snapshot (Phase<X>_snapshot.md)")
    snapshot.add_argument("--phase", required=True, help="the phase's letter, e.g. D")
    snapshot.add_argument("--out", type=Path, default=Path("reports"), help="folder of the reports")
    snapshot.add_argument("--kubeconfig", type=Path, default=None, help="default: $KUBECONFIG or in-cluster")
    snapshot.add_argument("--junit", type=Path, action="append", default=[], help=JUNIT_HELP)
    snapshot.add_argument(
        "--benchmarks", type=Path, default=None, help="benchmark figures (default: <out>/benchmarks.json)"
    )
    snapshot.set_defaults(run=run_snapshot)


def _kube(kubeconfig: Path | None) -> Any:
    from naksha.errors import ConfigError
    from naksha.kube import Kube

    if kubeconfig is None:
        return Kube()
    if not kubeconfig.is_file():
        raise ConfigError(f"--kubeconfig {kubeconfig}: no such file")
    from kubernetes import config

    return Kube(config.new_client_from_config(config_file=str(kubeconfig)))  # type: ignore[no-untyped-call]


def _state(kube: Any) -> Any:
    from naksha.errors import ConfigError
    from naksha.kube import KubeError
    from naksha.report import collect

    try:
        return collect(kube)
    except KubeError as error:
        raise ConfigError(f"the cluster could not be read: {error}") from None


def run_report(args: argparse.Namespace) -> int:
    from naksha.report import DEFAULT_JUNIT, write_reports

    kube = _kube(args.kubeconfig)
    for path in write_reports(kube, args.out, junit=args.junit or DEFAULT_JUNIT, state=_state(kube)):
        print(path)
    return 0


def run_snapshot(args: argparse.Namespace) -> int:
    from naksha.errors import ConfigError
    from naksha.report import DEFAULT_JUNIT
    from naksha.report.snapshot import write_snapshot

    phase = str(args.phase).strip()
    if not (phase.isalpha() and phase.isupper() and len(phase) == 1):
        raise ConfigError(f"--phase {args.phase!r}: a phase is one capital letter, e.g. D")
    state = _state(_kube(args.kubeconfig))
    print(write_snapshot(phase, state, args.out, args.junit or DEFAULT_JUNIT, args.benchmarks))
    return 0
