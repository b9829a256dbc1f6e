"""Test results from the JUnit XML that ``make test`` writes, summed up per capability.

A test case's capability is the folder its module sits in under ``tests/unit`` or
``tests/integration`` (``tests/integration/rollout/...`` is D.6); anything else is "platform"
(the control plane, the operator, models, the chart). pytest writes one ``testsuite`` per run;
both the emulator pass and the real-backend pass of ``make test`` are read when given.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from naksha.report.capabilities import CAPABILITIES

PLATFORM = "platform"


@dataclass
class Tally:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failed_names: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped


@dataclass
class TestResults:
    sources: list[Path]
    per_capability: dict[str, Tally]  # D.1 ... D.6, platform
    total: Tally
    missing: list[Path] = field(default_factory=list)


def capability_of(classname: str) -> str:
    """``tests.integration.rollout.test_gitops`` → D.6; unknown folders → platform."""
    parts = classname.split(".")
    for capability in CAPABILITIES:
        if len(parts) > 2 and parts[0] == "tests" and parts[2] in capability.tests:
            return capability.report
    return PLATFORM


def read(paths: Iterable[Path]) -> TestResults:
    per: dict[str, Tally] = {c.report: Tally() for c in CAPABILITIES}
    per[PLATFORM] = Tally()
    total = Tally()
    sources, missing = [], []
    for path in paths:
        if not path.is_file():
            missing.append(path)
            continue
        sources.append(path)
        for case in ElementTree.parse(path).iter("testcase"):
            key = capability_of(case.get("classname", ""))
            outcome = _outcome(case)
            for tally in (per[key], total):
                tally.tests += 1
                tally.seconds += float(case.get("time") or 0)
                if outcome == "failure":
                    tally.failures += 1
                elif outcome == "error":
                    tally.errors += 1
                elif outcome == "skipped":
                    tally.skipped += 1
                if outcome in ("failure", "error"):
                    tally.failed_names.append(f"{case.get('classname')}::{case.get('name')}")
    return TestResults(sources, per, total, missing)


def _outcome(case: ElementTree.Element) -> str:
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "passed"


def table(results: TestResults, keys: Iterable[str]) -> str:
    rows = [
        "| capability | tests | passed | failed | errors | skipped | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        t = results.per_capability.get(key, Tally())
        rows.append(
            f"| {key} | {t.tests} | {t.passed} | {t.failures} | {t.errors} | {t.skipped} | {t.seconds:.1f} |"
        )
    return "\n".join(rows)
