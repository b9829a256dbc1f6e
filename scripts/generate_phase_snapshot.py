#!/usr/bin/env python3
"""Write reports/Phase<X>_snapshot.md: ``scripts/generate_phase_snapshot.py D``.

A thin wrapper over ``naksha snapshot --phase <X>`` (the same options follow the phase), kept
under the name the project's plan gives it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from naksha.cli import main  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        print("usage: generate_phase_snapshot.py PHASE [naksha snapshot options]", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(["snapshot", "--phase", sys.argv[1], *sys.argv[2:]]))
