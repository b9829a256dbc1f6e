"""Benchmark of the anomaly detectors on the Numenta Anomaly Benchmark (NAB v1), scored NAB's way.

Runs every detector method over NAB's 58 series (365,558 samples, 116 labelled windows; vendored
in ``benchmarks/nab``, see its README) streaming, one sample at a time through a
``DetectorBank`` exactly as a worker does, with no look-ahead, and scores the result with NAB's
method (``nab_scoring``). Prints, per method:

- **alerts**: the anomalies the detector raises with its documented defaults (what a user gets
  from ``method: <name>`` with no params) scored as NAB detections, for the standard, reward-low-FP
  and reward-low-FN profiles;
- **score**: the same run's per-sample score (0 to 1) with NAB's per-profile threshold
  optimisation, which is how NAB's scoreboard is computed (marked "optimised");
- samples/s of the detector alone on one core: the process is pinned to one CPU and the time is
  its CPU time (``time.process_time``), so colleagues' load on a shared machine does not count
  against it (wall-clock time under a load average of 35 on 2 cores read a quarter of it);

beside NAB's published scoreboard (standard profile). ``threshold`` and ``rate`` need a limit,
which a user sets by knowing the series; here it is learnt from NAB's probationary period (the
first 15 % of each series, at most 750 samples): the largest and smallest value, and the largest
change per second, seen there.

``--quick`` runs a fixed subset (every fourth series, about a quarter of the samples) to try an
idea; only the full run gives the figures to compare with the scoreboard.

``--verify <NAB checkout>`` checks the scorer itself: it scores the per-sample anomaly scores NAB
publishes for its own detectors (``results/<detector>/``) with ``nab_scoring`` and prints them
beside NAB's ``results/final_results.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import os
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT / "benchmarks")]

from nab_scoring import PROFILES, LabelledSeries, best_threshold, normalised, raw_score  # noqa: E402
from naksha.domain.insight.detectors import DetectorBank  # noqa: E402
from naksha.domain.insight.records import Record  # noqa: E402
from naksha.models.insightstream import Detector  # noqa: E402
from results import record as record_figures  # noqa: E402

DATA = ROOT / "benchmarks" / "nab" / "nab-v1.tar.xz"
METHODS = ("predictive", "ewma", "threshold", "rate")
# Samples/s of the detector alone on one core that each method must keep (issue 11): the
# predictive method's target, and the speed the bound methods had before it.
SPEED_TARGETS = {"predictive": 50_000, "ewma": 500_000, "threshold": 500_000, "rate": 500_000}
SCOREBOARD = (
    ("ARTime", 74.9),
    ("Numenta HTM", 70.1),
    ("contextOSE", 69.9),
    ("htmjava", 65.5),
    ("Skyline", 58.2),
    ("KNN-CAD", 58.0),
    ("relativeEntropy", 54.6),
    ("random cut forest", 51.7),
    ("Twitter ADVec", 47.1),
    ("windowedGaussian", 39.6),
    ("random", 16.8),
)


@dataclass
class Series:
    name: str
    timestamps: list[float]
    values: list[float]
    labels: LabelledSeries


def load(quick: bool) -> list[Series]:
    with tarfile.open(DATA) as archive:
        windows = json.load(_member(archive, "labels/combined_windows.json"))
        names = sorted(windows)
        if quick:
            names = names[::4]
        corpus = []
        for name in names:
            rows = list(csv.DictReader(io.TextIOWrapper(_member(archive, f"data/{name}"))))
            timestamps = [_epoch(row["timestamp"]) for row in rows]
            values = [float(row["value"]) for row in rows]
            spans = [
                (_index(timestamps, _epoch(a)), _index(timestamps, _epoch(b), end=True))
                for a, b in windows[name]
            ]
            corpus.append(Series(name, timestamps, values, LabelledSeries(len(rows), spans)))
    return corpus


def _member(archive: tarfile.TarFile, name: str) -> Any:
    member = archive.extractfile(name)
    if member is None:
        raise SystemExit(f"{DATA} has no {name}")
    return member


def _epoch(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


def _index(timestamps: list[float], ts: float, *, end: bool = False) -> int:
    """The first sample at or after ``ts`` (window start), or the last at or before it (end)."""
    if end:
        return max(i for i, t in enumerate(timestamps) if t <= ts)
    return min(i for i, t in enumerate(timestamps) if t >= ts)


def detector_for(method: str, series: Series) -> Detector:
    params: dict[str, Any] = {}
    if method in ("threshold", "rate"):
        head_values = series.values[: series.labels.probation]
        head_ts = series.timestamps[: series.labels.probation]
        if method == "threshold":
            params = {"threshold": {"above": max(head_values), "below": min(head_values)}}
        else:
            steps = [
                abs(v1 - v0) / (t1 - t0)
                for v0, v1, t0, t1 in zip(head_values, head_values[1:], head_ts, head_ts[1:], strict=False)
                if t1 > t0
            ]
            params = {"rate": {"maxChangePerSecond": max(max(steps), 1e-9), "window": "24h"}}
    return Detector.model_validate({"name": "d", "metric": "m", "method": method, "params": params})


def run(method: str, corpus: list[Series]) -> tuple[list[list[int]], list[list[float]], float]:
    """Alert indexes and per-sample scores per series, and the detector's samples/s."""
    alerts: list[list[int]] = []
    scores: list[list[float]] = []
    busy = 0.0
    samples = 0
    for series in corpus:
        bank = DetectorBank([detector_for(method, series)])
        runner = bank.runners[0]
        records = [
            Record(ts=t, metric="m", value=v) for t, v in zip(series.timestamps, series.values, strict=True)
        ]
        found: list[int] = []
        series_scores: list[float] = []
        observe, take_peak = bank.observe, runner.take_peak
        started = time.process_time()
        for i, record in enumerate(records):
            if observe(record):
                found.append(i)
            series_scores.append(take_peak())
        busy += time.process_time() - started
        samples += len(records)
        alerts.append(found)
        scores.append(series_scores)
    return alerts, scores, samples / busy


def verify(checkout: Path, corpus: list[Series]) -> None:
    """Score NAB's published detector outputs with this scorer, beside NAB's published figures."""
    published = json.loads((checkout / "results" / "final_results.json").read_text())
    labels = [series.labels for series in corpus]
    names = [p.name for p in (checkout / "results").iterdir() if p.is_dir() and p.name in published]
    print(f"{'detector':<22}" + "".join(f"{p.name[:18]:>20}" for p in PROFILES) + "  (this scorer / NAB)")
    for detector in sorted(names):
        scores = []
        for series in corpus:
            category, file = series.name.split("/")
            path = checkout / "results" / detector / category / f"{detector}_{file}"
            with path.open() as handle:
                rows = list(csv.DictReader(handle))
            if len(rows) != series.labels.length:
                raise SystemExit(f"{path}: {len(rows)} rows, the series has {series.labels.length}")
            scores.append([float(row["anomaly_score"]) for row in rows])
        cells = []
        for profile in PROFILES:
            ours = normalised(labels, best_threshold(labels, scores, profile)[1], profile)
            cells.append(f"{ours:>10.2f} / {published[detector][profile.name]:>6.2f}")
        print(f"{detector:<22}" + "".join(f"{c:>20}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="every fourth series only")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    parser.add_argument("--verify", type=Path, metavar="NAB", help="score NAB's published results")
    args = parser.parse_args()
    if args.verify:
        verify(args.verify, load(quick=False))
        return
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    corpus = load(args.quick)
    labels = [series.labels for series in corpus]
    total = sum(series.labels.length for series in corpus)
    windows = sum(len(series.labels.windows) for series in corpus)
    subset = " (quick subset)" if args.quick else ""
    print(f"NAB v1{subset}: {len(corpus)} series, {total} samples, {windows} windows")
    print(f"{'method':<34}{'standard':>10}{'low FP':>10}{'low FN':>10}{'alerts':>9}{'samples/s':>12}")
    recorded: dict[str, float] = {}
    speeds: dict[str, float] = {}
    for method in args.methods.split(","):
        alerts, scores, speed = run(method, corpus)
        row = [normalised(labels, raw_score(labels, alerts, p), p) for p in PROFILES]
        recorded |= {f"{method}_nab_standard": row[0], f"{method}_samples_per_second": speed}
        count = sum(len(found) for found in alerts)
        speeds[method] = speed
        print(
            f"{method + ' (defaults, alerts)':<34}"
            + "".join(f"{v:>10.1f}" for v in row)
            + f"{count:>9}{speed:>12,.0f}"
        )
        tuned = [normalised(labels, best_threshold(labels, scores, p)[1], p) for p in PROFILES]
        print(f"{method + ' (score, optimised threshold)':<34}" + "".join(f"{v:>10.1f}" for v in tuned))
    print("\nThroughput targets (samples/s of the detector alone, one core):")
    for method, speed in speeds.items():
        target = SPEED_TARGETS[method]
        verdict = "met" if speed >= target else "MISSED"
        print(f"  {method:<32}{speed:>12,.0f}  target >= {target:,}  {verdict}")
    print("\nNAB scoreboard (standard profile, published):")
    for name, score in SCOREBOARD:
        print(f"  {name:<32}{score:>10.1f}")
    quick = " (quick subset)" if args.quick else ""
    record_figures(
        "detectors", recorded, reference=f"NAB v1{quick}, standard profile; published scoreboard above"
    )


if __name__ == "__main__":
    main()
