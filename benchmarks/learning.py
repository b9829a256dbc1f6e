"""Benchmark of the learning loop: training time, replay speed, hot-swap latency, and quality.

Prints:

- **training time** of the playbook ranker (fit + replay evaluation + baselines) for 10,000 and
  100,000 generated outcomes;
- **replay**: records/s of the tuner's replay (the worker's ``DetectorRunner`` over 1,000,000
  records) against the detector hot path (``DetectorBank.observe``, what a worker runs per record),
  as a ratio, and the time of a whole tuning grid over that history;
- **hot swap**: alias moved → a running ``naksha insight-worker`` process using the new parameters
  (its ``/health``), median and max over repeated moves, at two poll intervals, on a local control
  plane;
- **ranker quality**: resolved rate on the held-out 30 % of a generated history whose best playbook
  depends on the context (replay on logged uniformly random choices): ranker, single best fixed
  playbook, per-context oracle;
- **tuner quality** on the Numenta Anomaly Benchmark (vendored in ``benchmarks/nab``): per series,
  the labelled windows are the incidents (as ``naksha label anomaly --incident`` would mark them),
  the first 70 % of each series trains, the last 30 % scores; false positives, precision, recall
  and F1 of the default ``ewma`` detector and of the tuned one: by the objective (F1) alone
  (``keepRecall: false``), and as the tuner runs by default, with recall a constraint of the search
  (only candidates detecting every training window the default detects; a series without training
  windows keeps the default).

``--quick`` uses a quarter of NAB, 100,000 replay records and fewer swaps.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator"), str(ROOT / "benchmarks")]

from tests.support import eventually  # noqa: E402
from tests.support.learning import context_history, loose_detector  # noqa: E402
from tests.support.workers import WorkerProcess  # noqa: E402

from detectors import load  # noqa: E402
from naksha.domain.insight.detectors import DetectorBank  # noqa: E402
from naksha.domain.insight.records import Record  # noqa: E402
from naksha.domain.learning import artifact  # noqa: E402
from naksha.domain.learning import tuner as tuning  # noqa: E402
from naksha.domain.learning.metrics import DetectionCounts  # noqa: E402
from naksha.domain.learning.outcomes import parse_outcomes  # noqa: E402
from naksha.domain.learning.training import train  # noqa: E402
from naksha.models.insightstream import Detector  # noqa: E402

GRID_RECORDS = 200_000  # the grid replays every candidate: 33 times the replay above


def training_time(count: int) -> float:
    data = parse_outcomes(context_history(count))
    started = time.perf_counter()
    train("playbook-ranker", {}, data, 0.3)
    return time.perf_counter() - started


def replay_figures(count: int) -> tuple[float, float, float]:
    rng = random.Random(5)
    records = [Record(1_790_000_000.0 + i, "latency_ms", 100 + rng.gauss(0, 1)) for i in range(count)]
    detector = loose_detector()
    started = time.perf_counter()
    tuning.replay(detector, records)
    replay_rate = count / (time.perf_counter() - started)
    bank = DetectorBank([detector])
    observe = bank.observe
    started = time.perf_counter()
    for record in records:
        observe(record)
    hot_rate = count / (time.perf_counter() - started)
    grid = records[:GRID_RECORDS]
    started = time.perf_counter()
    tuning.tune_detector(detector, grid, [], grid[int(len(grid) * 0.7)].ts)
    return replay_rate, hot_rate, time.perf_counter() - started


def ranker_quality() -> dict[str, Any]:
    result = train("playbook-ranker", {}, parse_outcomes(context_history(20_000)), 0.3)
    return {
        "ranker": result.metrics["resolved-rate"],
        "fixed": result.baseline_metrics["resolved-rate"],
        "oracle": result.evaluation["oracleResolvedRate"],
        "matched": result.evaluation["matched"],
        "holdout": result.evaluation["holdout"],
        "baseline": result.evaluation["baseline"],
    }


def tuner_on_nab(quick: bool) -> tuple[DetectionCounts, DetectionCounts, DetectionCounts, int]:
    before: list[DetectionCounts] = []
    after: list[DetectionCounts] = []
    kept: list[DetectionCounts] = []
    corpus = load(quick)
    for series in corpus:
        records = [Record(t, "m", v) for t, v in zip(series.timestamps, series.values, strict=True)]
        incidents = [
            tuning.Incident(series.timestamps[a], series.timestamps[b]) for a, b in series.labels.windows
        ]
        base = Detector.model_validate({"name": "d", "metric": "m", "method": "ewma"})
        split = records[int(len(records) * 0.7)].ts
        free = tuning.tune_detector(base, records, incidents, split, keep_recall=False)
        before.append(free.baseline_holdout)
        after.append(free.holdout)
        kept.append(tuning.tune_detector(base, records, incidents, split).holdout)
    return tuning.total(before), tuning.total(after), tuning.total(kept), len(corpus)


def hot_swap(moves: int, poll: float) -> list[float]:
    from kubernetes import client, config

    from naksha.controllers.modelversion import aliases
    from naksha.kube import Kube
    from naksha.local import LocalControlPlane

    plane = LocalControlPlane(kubelet=False)
    plane.start()
    worker = None
    try:
        api = config.new_client_from_config(config_file=str(plane.kubeconfig_path))
        kube, core = Kube(api), client.CoreV1Api(api)
        spec = {
            "source": {"type": "http", "http": {"auth": "none"}},
            "detectors": [
                {**_tuned(4.0), "model": {"name": "tuner", "pollInterval": f"{int(poll * 1000)}ms"}}
            ],
        }

        def publish(version: str, zscore: float) -> None:
            data = artifact.encode({"algorithm": "detector-tuner", "detectors": {"latency": _tuned(zscore)}})
            name = f"{version}-artifact"
            encoded = base64.b64encode(data).decode()
            body = {"metadata": {"name": name}, "binaryData": {artifact.ARTIFACT_KEY: encoded}}
            core.create_namespaced_config_map("default", body)
            holder = aliases.Holder(version, name, artifact.checksum(data), time.time())
            aliases.move(kube, "default", "tuner", "production", holder)

        publish("v0", 5.0)
        workdir = Path(tempfile.mkdtemp(prefix="naksha-bench-"))
        worker = WorkerProcess(
            workdir, Path(plane.kubeconfig_path), namespace="default", stream="s", spec=spec, name="w"
        ).start()
        eventually(lambda: _version(worker) == "v0", timeout=60)
        latencies = []
        for n in range(1, moves + 1):
            time.sleep(random.uniform(0, poll))  # moves land anywhere in the poll cycle
            started = time.perf_counter()
            publish(f"v{n}", 5.0 + n)
            eventually(lambda n=n: _version(worker) == f"v{n}", timeout=30, interval=0.005)
            latencies.append(time.perf_counter() - started)
        return latencies
    finally:
        if worker is not None:
            worker.stop()
        plane.stop()


def _tuned(zscore: float) -> dict[str, Any]:
    return {"name": "latency", "metric": "latency", "method": "ewma", "params": {"ewma": {"zscore": zscore}}}


def _version(worker: WorkerProcess) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/health", timeout=5) as response:
            return json.loads(response.read())["models"]["latency"]["version"]  # type: ignore[no-any-return]
    except OSError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    print("== training time (playbook ranker: fit, replay evaluation, baselines)")
    for count in (10_000, 100_000):
        print(f"  {count:>7,} outcomes: {training_time(count):6.2f} s")

    count = 100_000 if args.quick else 1_000_000
    replay_rate, hot_rate, grid = replay_figures(count)
    print(f"== replay of {count:,} records (the worker's detector code)")
    ratio = replay_rate / hot_rate
    print(
        f"  replay {replay_rate:,.0f} records/s; detector hot path {hot_rate:,.0f} records/s;"
        f" ratio {ratio:.2f}"
    )
    print(
        f"  whole ewma grid (33 candidates + scoring) over {min(count, GRID_RECORDS):,} records: {grid:.1f} s"
    )

    print("== ranker quality (holdout 30 % of 20,000 generated outcomes; replay on logged choices)")
    quality = ranker_quality()
    print(
        f"  ranker {quality['ranker']:.3f}   best fixed ({quality['baseline']}) {quality['fixed']:.3f}"
        f"   oracle {quality['oracle']:.3f}   ({quality['matched']} of {quality['holdout']} runs matched)"
    )

    print("== tuner on NAB (ewma defaults vs tuned; last 30 % of each series)")
    before, after, kept, series = tuner_on_nab(args.quick)
    for label, counts in (
        ("default", before),
        ("tuned, objective only", after),
        ("tuned (recall kept)", kept),
    ):
        print(
            f"  {label:<22} false positives {counts.false_positives:>5}  precision {_f(counts.precision)}"
            f"  recall {_f(counts.recall)}  f1 {_f(counts.f1)}"
            f"   ({counts.incidents} windows, {series} series)"
        )

    print("== hot swap (alias moved -> running worker using the new parameters)")
    for poll in (0.2, 1.0):
        latencies = hot_swap(5 if args.quick else 15, poll)
        print(
            f"  poll {poll:.1f} s: median {statistics.median(latencies) * 1000:.0f} ms,"
            f" max {max(latencies) * 1000:.0f} ms over {len(latencies)} moves"
        )


def _f(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
