"""``naksha demo``: the closed loop as a story in scenes on the local control plane.

``--scene N`` (repeatable) plays only those scenes; ``--keep`` leaves everything running and
prints the kubeconfig and the URLs to explore; ``--headless`` prints the same lines without
waiting for anything and exits 1 when a played scene did not reach its outcome.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="the closed loop as a story in scenes, on the local control plane"
    )
    demo.add_argument("--state-dir", type=Path, default=Path(".state/demo"))
    demo.add_argument("--crds", type=Path, default=Path("crds"), help="directory of CRD files")
    demo.add_argument(
        "--examples", type=Path, default=Path("examples/gitops"), help="the GitOps repository's seed"
    )
    demo.add_argument("--namespace", "-n", default="default", help="where the scenes create their objects")
    demo.add_argument(
        "--scene", type=int, action="append", default=[], help="play only this scene (repeatable)"
    )
    demo.add_argument("--reports", type=Path, default=Path("reports"), help="where to write the reports")
    demo.add_argument("--phase", default="D", help="the phase of the snapshot written with the reports")
    demo.add_argument("--no-reports", action="store_true", help="do not write the reports at the end")
    demo.add_argument("--keep", action="store_true", help="leave everything running until Ctrl-C")
    demo.add_argument("--headless", action="store_true", help="no waiting; exit 1 if a scene failed")
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from naksha.demo.progress import Progress
    from naksha.demo.scenes import SCENES, scene
    from naksha.demo.stage import running_stage, wait_for_interrupt
    from naksha.demo.story import play, summary
    from naksha.errors import ConfigError

    try:
        chosen = [scene(n) for n in args.scene] if args.scene else list(SCENES)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    progress = Progress(None if args.headless else sys.stdout)
    with running_stage(
        state_dir=args.state_dir,
        crds=args.crds,
        examples=args.examples,
        namespace=args.namespace,
        progress=progress,
    ) as stage:
        reports = play(stage, chosen)
        summary(stage, reports)
        progress.save(stage.state_dir / "events.json")
        (stage.state_dir / "scenes.json").write_text(
            json.dumps([_plain(r) for r in reports], indent=1, default=str)
        )
        if not args.no_reports:
            from naksha.report import DEFAULT_JUNIT, collect, write_reports
            from naksha.report.snapshot import write_snapshot

            state = collect(stage.kube)
            for path in write_reports(stage.kube, args.reports, state=state):
                progress.say(f"report {path}")
            snapshot = write_snapshot(args.phase, state, args.reports, DEFAULT_JUNIT)
            progress.say(f"snapshot {snapshot}")
        if args.keep and not args.headless:
            progress.say(f"kubeconfig: {stage.kubeconfig}")
            progress.say(f"try: kubectl --kubeconfig {stage.kubeconfig} get naksha -A")
            for what, url in stage.urls.items():
                progress.say(f"{what}: {url}")
            for report in reports:
                if report.number == 5 and not report.played:
                    progress.say(f"hub: not running ({report.reason})")
            progress.say("running; Ctrl-C (or SIGTERM) stops everything")
            wait_for_interrupt(stage)
    if args.headless:
        print(json.dumps([_plain(r) for r in reports], indent=1, default=str))
    return 1 if any(report.failed for report in reports) else 0


def _plain(report: Any) -> dict[str, Any]:
    body = dataclasses.asdict(report)
    body["failed"] = report.failed
    return dict(body)
