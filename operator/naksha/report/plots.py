"""Timelines drawn from the objects' own timestamps, as PNG files (matplotlib, no display needed).

Each function returns the file it wrote, or None when the objects hold nothing to draw (the
report then says so instead of linking an empty picture) or when matplotlib is not installed
(it comes with ``naksha[local]``; the report then says that instead).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STEP_COLOURS = {"observe": "#4c78a8", "decide": "#f58518", "act": "#e45756", "verify": "#54a24b"}


def parse_time(text: Any) -> datetime.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def missing() -> str | None:
    """Why no picture can be drawn here, or None when matplotlib is installed."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        return "matplotlib is not installed, so no timeline was drawn (pip install 'naksha[local]')"
    return None


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def agent_run_timeline(runs: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """One row per AgentRun: its steps as bars (observe/decide/act/verify), the signal as a marker."""
    if missing():
        return None
    rows = []
    for run in runs:
        status = run.get("status") or {}
        steps = []
        for step in status.get("steps") or []:
            start, end = parse_time(step.get("started")), parse_time(step.get("finished"))
            if start and end:
                steps.append((str(step.get("type", "")), start, end))
        detected = parse_time(((run.get("spec") or {}).get("signal") or {}).get("detectedAt"))
        if steps:
            rows.append((run["metadata"]["name"], steps, detected))
    if not rows:
        return None
    origin = min(min(s[1] for s in steps) for _, steps, _ in rows)
    origin = min([origin] + [d for _, _, d in rows if d])
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 1.2 + 0.6 * len(rows)))
    span = max((end - origin).total_seconds() for _, steps, _ in rows for _, _, end in steps) or 1.0
    for index, (_, steps, detected) in enumerate(rows):
        for kind, start, end in steps:
            left = (start - origin).total_seconds()
            # Steps are stamped to the second: a quick one still shows, as a sliver.
            width = max((end - start).total_seconds(), span * 0.012)
            axes.barh(index, width, left=left, color=STEP_COLOURS.get(kind, "#999999"), edgecolor="black")
        if detected:
            axes.plot((detected - origin).total_seconds(), index, marker="v", color="black", markersize=9)
    axes.set_yticks(range(len(rows)), [name for name, _, _ in rows])
    axes.set_xlabel("seconds since the first signal or step")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in STEP_COLOURS.values()]
    axes.legend(handles, list(STEP_COLOURS), loc="lower right", fontsize="small")
    axes.set_title("AgentRuns: anomaly detected (▼) → observe → decide → act → verify")
    return _save(plt, figure, path)


CHAOS_MARKS = (  # (the run's field, marker, colour, legend)
    ("detectedAt", "v", "black", "AgentRun created (detected)"),
    ("recoveredAt", "o", "#54a24b", "steady again (recovered)"),
    ("finishedAt", "*", "#4c78a8", "verdict"),
)


def chaos_run_timeline(runs: Sequence[tuple[str, dict[str, Any]]], path: Path) -> Path | None:
    """One row per ChaosExperiment run: the fault in place as a bar; detection, recovery, verdict as marks."""
    if missing():
        return None
    rows = []
    for name, run in runs:
        injected = parse_time(run.get("injectedAt"))
        if injected is None:
            continue  # skipped before injecting: nothing happened in time to draw
        restored = parse_time(run.get("restoredAt"))
        marks = [(parse_time(run.get(field)), marker, colour) for field, marker, colour, _ in CHAOS_MARKS]
        rows.append(
            (f"{name} {run.get('id', '')} ({run.get('verdict') or 'in flight'})", injected, restored, marks)
        )
    if not rows:
        return None
    origin = min(injected for _, injected, _, _ in rows)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 2.2 + 0.6 * len(rows)))
    for index, (_, injected, restored, marks) in enumerate(rows):
        left = (injected - origin).total_seconds()
        if restored is not None:
            axes.barh(index, (restored - injected).total_seconds(), left=left, color="#e45756", alpha=0.5)
        for when, marker, colour in marks:
            if when is not None:
                axes.plot((when - origin).total_seconds(), index, marker=marker, color=colour, markersize=10)
    axes.set_yticks(range(len(rows)), [label for label, _, _, _ in rows])
    axes.set_ylim(-0.6, len(rows) + 0.5)  # the top band holds the legend, clear of the runs
    axes.set_xlabel("seconds since the first fault")
    handles = [plt.Rectangle((0, 0), 1, 1, color="#e45756", alpha=0.5)] + [
        plt.Line2D([], [], marker=marker, color=colour, linestyle="") for _, marker, colour, _ in CHAOS_MARKS
    ]
    labels = ["fault in place (injected → restored)"] + [legend for _, _, _, legend in CHAOS_MARKS]
    axes.legend(handles, labels, loc="upper center", ncol=2, fontsize="small")
    axes.set_title("ChaosExperiment runs: fault → AgentRun → recovery → verdict")
    return _save(plt, figure, path)


def event_timeline(
    rows: Sequence[tuple[str, Sequence[tuple[datetime.datetime, str, str]]]], title: str, path: Path
) -> Path | None:
    """One row per object: its Events (reason, type) as labelled markers on a time axis."""
    if missing():
        return None
    rows = [(name, events) for name, events in rows if events]
    if not rows:
        return None
    origin = min(when for _, events in rows for when, _, _ in events)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 1.4 + 0.8 * len(rows)))
    for index, (_, events) in enumerate(rows):
        for when, reason, kind in events:
            x = (when - origin).total_seconds()
            colour = "#e45756" if kind == "Warning" else "#4c78a8"
            axes.plot(x, index, marker="o", color=colour, markersize=8)
            axes.annotate(
                reason,
                (x, index),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=7,
                rotation=20,
            )
    axes.set_yticks(range(len(rows)), [name for name, _ in rows])
    axes.set_ylim(-0.5, len(rows) - 0.3)
    axes.set_xlabel("seconds since the first event")
    axes.set_title(title)
    return _save(plt, figure, path)


def _save(plt: Any, figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)
    return path
