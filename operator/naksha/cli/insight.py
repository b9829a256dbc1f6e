"""``naksha insight-worker``: one InsightStream worker, configured by the operator through env.

Only the worker is imported when the command runs (never kopf): a worker pod loads what it uses.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any) -> None:
    worker = commands.add_parser(
        "insight-worker", help="run one InsightStream worker (configured by the operator through env)"
    )
    worker.set_defaults(run=_run_insight_worker)


def _run_insight_worker(args: argparse.Namespace) -> int:
    from naksha.services.insight.worker import run_insight_worker

    return run_insight_worker()
