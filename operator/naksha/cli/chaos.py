"""``naksha chaos run|abort|journal NAME``: start a run now, stop the run in flight, print the journal.

``run`` and ``abort`` are annotations the controller honours once each (a new value is a new
request); ``journal`` prints every kept run's timeline, or the status as JSON with ``--json``.
Exit codes: 0 done, 1 the experiment does not exist or the API refused.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from naksha.models import timestamps
from naksha.models.chaosexperiment import (
    ABORT_ANNOTATION,
    RUN_ANNOTATION,
    ChaosExperimentStatus,
    ChaosRun,
    JournalEntry,
)


def register(commands: Any) -> None:
    chaos = commands.add_parser("chaos", help="ChaosExperiments: run now, abort, journal")
    verbs = chaos.add_subparsers(dest="chaos_command", metavar="COMMAND", required=True)
    for verb, text in (
        ("run", "start a run now (concurrencyPolicy still applies)"),
        ("abort", "restore the fault in flight at once; the run ends Aborted"),
        ("journal", "print the runs' timelines: steady state, injection, detection, recovery, verdict"),
    ):
        command = verbs.add_parser(verb, help=text)
        command.add_argument("name")
        command.add_argument("--namespace", "-n", default="default")
        if verb == "journal":
            command.add_argument("--json", action="store_true", help="the status as JSON")
        command.set_defaults(run=_run, verb=verb)


def _run(args: argparse.Namespace) -> int:
    # Imported here: the API client pulls in what the other commands (the workers) need not load.
    from naksha.kube import Kube, KubeError, NotFound
    from naksha.models.resources import CHAOS_EXPERIMENTS as experiments

    kube = Kube()
    try:
        if args.verb == "journal":
            experiment = kube.get(experiments, args.namespace, args.name)
            status = experiment.get("status") or {}
            print(json.dumps(status, indent=2) if args.json else describe(args.name, status))
            return 0
        key = RUN_ANNOTATION if args.verb == "run" else ABORT_ANNOTATION
        stamp = timestamps.to_micro_text(time.time())
        kube.merge_patch(experiments, args.namespace, args.name, {"metadata": {"annotations": {key: stamp}}})
    except NotFound:
        print(f"naksha: ChaosExperiment {args.namespace}/{args.name} not found", file=sys.stderr)
        return 1
    except KubeError as error:
        print(f"naksha: the API refused: {error}", file=sys.stderr)
        return 1
    print(f"chaosexperiment.naksha.io/{args.name} {args.verb} requested")
    return 0


def describe(name: str, raw_status: dict[str, Any]) -> str:
    """The journal as a person reads it: one block per run, newest last."""
    status = ChaosExperimentStatus.model_validate(raw_status)
    runs = [*status.history, *([status.current_run] if status.current_run else [])]
    if not runs:
        return f"ChaosExperiment {name}: no run yet"
    lines = [f"ChaosExperiment {name}: {len(runs)} run(s) kept, {status.runs} in all"]
    for run in runs:
        lines.append("")
        lines.append(_headline(run))
        for entry in status.journal:
            if entry.run == run.id:
                lines.append(_entry(entry))
    return "\n".join(lines)


def _headline(run: ChaosRun) -> str:
    verdict = run.verdict or f"in progress ({run.stage})"
    times = []
    if run.time_to_detect_seconds is not None:
        times.append(f"detect {run.time_to_detect_seconds:.1f}s")
    if run.time_to_recover_seconds is not None:
        times.append(f"recover {run.time_to_recover_seconds:.1f}s")
    suffix = f" [{', '.join(times)}]" if times else ""
    return f"{run.id}  {verdict}{suffix}  targets: {', '.join(run.targets) or '-'}"


def _entry(entry: JournalEntry) -> str:
    mark = " " if entry.ok else "!"
    return f"  {mark} {entry.at}  {entry.activity:<20} {entry.message}"
