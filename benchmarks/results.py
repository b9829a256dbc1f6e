"""Where the benchmarks leave their figures: ``reports/benchmarks.json``, read by the phase snapshot.

Each benchmark calls ``record(name, figures, reference=...)`` after printing, with the same
numbers it printed (medians, rates, ratios). The file keeps one entry per benchmark, replaced by
its latest run, so ``make bench`` refreshes all of them and one script refreshes its own.
``NAKSHA_BENCH_RESULTS`` names another file (the tests use it).
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "reports" / "benchmarks.json"


def results_path() -> Path:
    return Path(os.environ.get("NAKSHA_BENCH_RESULTS") or DEFAULT)


def record(benchmark: str, figures: Mapping[str, float | int | str], *, reference: str = "") -> Path:
    path = results_path()
    recorded: dict[str, object] = {}
    if path.is_file():
        try:
            recorded = json.loads(path.read_text())
        except ValueError:
            # Keep the unreadable file for a look rather than overwrite what it may hold.
            path.replace(path.with_suffix(".unreadable.json"))
            print(
                f"{path} was not valid JSON; kept as {path.with_suffix('.unreadable.json')}", file=sys.stderr
            )
    recorded[benchmark] = {
        "figures": {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()},
        "reference": reference,
        "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    temporary.replace(path)  # a reader never sees half a file
    return path
