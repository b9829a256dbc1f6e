"""The learning commands: ``naksha train``, ``naksha model promote|rollback|list``,
``naksha label anomaly``, ``naksha export outcomes``.

``naksha train --model-version NS/NAME``   the training Job pod's command (reads the cluster)
``naksha train --input DIR --out DIR``     offline: exported outcome files in, artifact and
                                           ``model_versions.json`` out
``naksha model promote NAME``              move the version's alias to it (``--force``: without a
                                           passed verdict)
``naksha model rollback MODEL --alias A``  move the alias back to the version that held it before
``naksha model list MODEL``                versions, verdicts, metrics and alias holders
``naksha label anomaly RUN --incident|--false-positive``   a human's label on a run's anomaly
``naksha export outcomes --out DIR``       write the outcome archive and finished runs as files
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from naksha.domain.learning.training import TrainingError


def register(commands: Any) -> None:
    train = commands.add_parser("train", help="train a model version (in its Job pod, or offline)")
    train.add_argument("--model-version", default=None, metavar="NS/NAME", help="the ModelVersion to train")
    train.add_argument("--input", type=Path, default=None, help="offline: directory of outcome files")
    train.add_argument("--out", type=Path, default=None, help="offline: where the artifact goes")
    train.add_argument(
        "--algorithm", choices=("playbook-ranker", "detector-tuner"), default="playbook-ranker"
    )
    train.add_argument("--params", default="{}", help="trainer params as a JSON object")
    train.add_argument("--holdout-fraction", type=float, default=0.2)
    train.add_argument("--model", default="model", help="offline: the model's name (version ids)")
    train.set_defaults(run=_run_train)

    model = commands.add_parser("model", help="ModelVersions: promote, rollback, list")
    verbs = model.add_subparsers(dest="model_command", metavar="COMMAND", required=True)
    promote = verbs.add_parser("promote", help="give a version its model's alias")
    promote.add_argument("name")
    promote.add_argument("--namespace", "-n", default="default")
    promote.add_argument("--alias", default=None, help="default: the version's spec.promotion.alias")
    promote.add_argument("--force", action="store_true", help="promote without a passed verdict")
    promote.set_defaults(run=_run_promote)
    rollback = verbs.add_parser("rollback", help="move an alias back to its previous holder")
    rollback.add_argument("model")
    rollback.add_argument("--alias", required=True)
    rollback.add_argument("--namespace", "-n", default="default")
    rollback.set_defaults(run=_run_rollback)
    listing = verbs.add_parser("list", help="a model's versions, metrics and aliases")
    listing.add_argument("model")
    listing.add_argument("--namespace", "-n", default="default")
    listing.set_defaults(run=_run_list)

    label = commands.add_parser("label", help="label what the loop learns from")
    label_verbs = label.add_subparsers(dest="label_command", metavar="COMMAND", required=True)
    anomaly = label_verbs.add_parser("anomaly", help="label the anomaly behind an AgentRun")
    anomaly.add_argument("agent_run", metavar="RUN", help="the AgentRun the anomaly triggered")
    anomaly.add_argument("--namespace", "-n", default="default")
    verdict = anomaly.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--incident", dest="label", action="store_const", const="incident")
    verdict.add_argument("--false-positive", dest="label", action="store_const", const="false-positive")
    anomaly.set_defaults(run=_run_label)

    export = commands.add_parser("export", help="export data the loop learns from")
    export_verbs = export.add_subparsers(dest="export_command", metavar="COMMAND", required=True)
    outcomes = export_verbs.add_parser("outcomes", help="write outcome records as files")
    outcomes.add_argument("--out", type=Path, required=True)
    outcomes.add_argument("--namespace", "-n", default="default")
    outcomes.set_defaults(run=_run_export)


def _run_train(args: argparse.Namespace) -> int:
    if args.model_version:
        from naksha.services.trainer.job import run_training_job

        namespace, _, name = args.model_version.partition("/")
        if not name:
            print("naksha train: --model-version must be NS/NAME", file=sys.stderr)
            return 2
        return run_training_job(namespace, name)
    if args.input is None or args.out is None:
        print(
            "naksha train: give --model-version NS/NAME, or both --input DIR and --out DIR", file=sys.stderr
        )
        return 2
    if not args.input.is_dir():
        print(f"naksha train: {args.input} is not a directory", file=sys.stderr)
        return 2
    try:
        params = json.loads(args.params)
    except ValueError as error:
        print(f"naksha train: --params is not JSON: {error}", file=sys.stderr)
        return 2
    if not isinstance(params, dict):
        print("naksha train: --params must be a JSON object", file=sys.stderr)
        return 2
    if not 0 < args.holdout_fraction < 1:
        print("naksha train: --holdout-fraction must be between 0 and 1", file=sys.stderr)
        return 2
    from naksha.services.trainer.offline import train_offline

    try:
        entry = train_offline(
            args.input,
            args.out,
            algorithm=args.algorithm,
            params=params,
            holdout_fraction=args.holdout_fraction,
            model=args.model,
        )
    except (TrainingError, ValueError) as error:
        print(f"naksha train: {error}", file=sys.stderr)
        return 1
    lineage = entry["lineage"]
    print(
        f"{entry['id']}: score {entry['score']} ({entry['evaluation'].get('method')}), "
        f"{lineage['samples']} records, {lineage['malformed']} malformed, "
        f"{lineage['unreadableFiles']} unreadable files; artifact {args.out / entry['artifact']} "
        f"sha256 {entry['sha256']}"
    )
    print(json.dumps({"metrics": entry["metrics"], "baseline": entry["baselineMetrics"]}))
    return 0


def _run_promote(args: argparse.Namespace) -> int:
    from naksha.controllers.modelversion import commands

    return _report(lambda: commands.promote(args.namespace, args.name, alias=args.alias, force=args.force))


def _run_rollback(args: argparse.Namespace) -> int:
    from naksha.controllers.modelversion import commands

    return _report(lambda: commands.rollback(args.namespace, args.model, args.alias))


def _run_list(args: argparse.Namespace) -> int:
    from naksha.controllers.modelversion import commands

    return _report(lambda: "\n".join(commands.show(args.namespace, args.model)))


def _run_label(args: argparse.Namespace) -> int:
    from naksha.controllers.modelversion import commands

    return _report(lambda: commands.label(args.namespace, args.agent_run, args.label))


def _run_export(args: argparse.Namespace) -> int:
    from naksha.controllers.modelversion import commands

    return _report(lambda: commands.export(args.namespace, args.out))


def _report(command: Callable[[], str]) -> int:
    """Print what the command did (0), or why it could not (1)."""
    from naksha.controllers.modelversion.commands import CommandRefused

    try:
        print(command())
    except CommandRefused as refused:
        print(f"naksha: {refused}", file=sys.stderr)
        return 1
    return 0
