"""``naksha report``: the capability reports D.1-D.6 and the phase snapshot, written from live state.

Runs against whatever cluster the kubeconfig names (the demo calls it at its end). It reads the
objects once (``state``), renders each capability's markdown (``sections``, ``common``) with its
timelines as PNG files beside it (``plots``), and sums up test results from JUnit XML
(``junit``). ``snapshot`` writes ``Phase<X>_snapshot.md``: version, kinds and their status,
the reports' index, benchmark figures (``benchmarks.json``), tests and open limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from naksha.kube import Kube
from naksha.report.capabilities import CAPABILITIES
from naksha.report.junit import read
from naksha.report.sections import render
from naksha.report.state import LiveState, collect

DEFAULT_JUNIT = (Path("reports/junit.xml"), Path("reports/junit-real.xml"))


def write_reports(
    kube: Kube,
    out: Path,
    *,
    junit: Sequence[Path] = DEFAULT_JUNIT,
    state: LiveState | None = None,
) -> list[Path]:
    """Write D.1-D.6 (and their plots) into ``out``; returns the markdown files written."""
    out.mkdir(parents=True, exist_ok=True)
    state = state or collect(kube)
    results = read(junit)
    written = []
    for capability in CAPABILITIES:
        path = out / capability.file
        path.write_text(render(capability, state, results, out))
        written.append(path)
    return written


__all__ = ["collect", "write_reports"]
