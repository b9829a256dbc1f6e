"""D.5, chaos: every ChaosExperiment's runs with their verdicts and times, and each run's journal.

Read from the experiments' status as the operator wrote it (``history``, ``currentRun``,
``journal``), so the report says what the runs found, not what they were meant to find. The faults
this build refuses are listed under "BLOCKED / simulated here" with the reason the operator gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from naksha.controllers.chaosexperiment.faults import NOT_INJECTABLE
from naksha.report import plots
from naksha.report.capabilities import Capability
from naksha.report.common import (
    blocked_section,
    events_section,
    header,
    markdown_table,
    name_of,
    objects_section,
    status_of,
    tests_section,
)
from naksha.report.junit import TestResults
from naksha.report.state import LiveState

# The faults the operator refuses here, and why: the operator's own list, so the report says
# what a run would.
REFUSED_FAULTS = NOT_INJECTABLE


def chaos_experiments(
    capability: Capability, state: LiveState, results: TestResults | None, out: Path
) -> list[str]:
    experiments = state.of("ChaosExperiment")
    lines = [*header(capability, state), *objects_section(capability, state)]
    lines += runs_section(experiments)
    lines += timeline_section(experiments, out / "D.5_chaos_runs.png")
    lines += journal_section(experiments)
    lines += [*events_section(capability, state), *tests_section(capability, results)]
    used = {str((item.get("spec") or {}).get("fault", {}).get("type", "")) for item in experiments}
    blocked = [f"`{fault}` is refused: {why}." for fault, why in REFUSED_FAULTS.items()]
    if used & REFUSED_FAULTS.keys():
        blocked.insert(0, "Some experiments here ask for a refused fault; their runs end Skipped.")
    return lines + blocked_section(blocked)


def runs_of(experiment: dict[str, Any]) -> list[dict[str, Any]]:
    """The experiment's finished runs, oldest first, then the run in flight (if any)."""
    status = status_of(experiment)
    runs = [dict(run) for run in status.get("history") or []]
    if status.get("currentRun"):
        runs.append(dict(status["currentRun"]))
    return runs


def runs_section(experiments: list[dict[str, Any]]) -> list[str]:
    """One row per run: verdict, the expectation that failed, times to detect and recover."""
    lines = ["## Runs and verdicts", ""]
    rows: list[tuple[Any, ...]] = []
    for experiment in experiments:
        for run in runs_of(experiment):
            rows.append(
                (
                    name_of(experiment),
                    run.get("id"),
                    run.get("startedBy"),
                    ", ".join(run.get("targets") or []) or "none",
                    run.get("verdict") or f"in flight ({run.get('stage')})",
                    run.get("failedExpectation") or run.get("reason") or "",
                    run.get("agentRun") or "",
                    _seconds(run.get("timeToDetectSeconds")),
                    _seconds(run.get("timeToRecoverSeconds")),
                )
            )
    if not rows:
        return [*lines, "No run yet.", ""]
    headings = ("experiment", "run", "by", "targets", "verdict", "why", "AgentRun", "detect", "recover")
    return [*lines, *markdown_table(headings, rows), ""]


def timeline_section(experiments: list[dict[str, Any]], path: Path) -> list[str]:
    """The runs that injected, drawn from their own timestamps."""
    runs = [(name_of(experiment), run) for experiment in experiments for run in runs_of(experiment)]
    picture = plots.chaos_run_timeline(runs, path)
    if picture is None:
        return ["## Timeline", "", f"_{plots.missing() or 'No run has injected a fault.'}_", ""]
    return ["## Timeline", "", f"![fault → AgentRun → recovery → verdict]({picture.name})", ""]


def journal_section(experiments: list[dict[str, Any]]) -> list[str]:
    """The journal of each experiment as its status keeps it (bounded by historyLimit)."""
    lines = ["## Journals (steady state, fault, detection, remediation, recovery, restore)", ""]
    written = False
    for experiment in experiments:
        entries = status_of(experiment).get("journal") or []
        if not entries:
            continue
        written = True
        rows = [(e.get("at"), e.get("run"), e.get("activity"), _result(e), e.get("message")) for e in entries]
        lines += [f"### {name_of(experiment)}", ""]
        lines += [*markdown_table(("at", "run", "activity", "result", "message"), rows), ""]
    return lines if written else [*lines, "No journal entry yet.", ""]


def _result(entry: dict[str, Any]) -> str:
    return "ok" if entry.get("ok", True) else "failed"


def _seconds(value: Any) -> str:
    return f"{float(value):.1f} s" if isinstance(value, int | float) else ""
