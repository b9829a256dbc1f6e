"""``naksha train --input DIR --out DIR``: train from exported outcome files, outside any cluster.

The input directory holds run files (``*.json``): each an outcome record, an AgentRun object, or a
list of either (what ``naksha export outcomes`` writes, or a directory of run JSON files). For the
detector tuner it also holds ``detectors.json`` (a list of InsightStream detector specs) and
``series/*.jsonl`` (telemetry records ``{"ts", "metric", "value", "labels"}``, one per line).
Unreadable files and malformed records are counted and skipped, never fatal.

The output directory receives the artifact (``<id>.json.gz``, see ``naksha.domain.learning.artifact``)
and ``model_versions.json``, a list with one entry per training appended (id, created, metrics,
score, sha256, lineage); the file is replaced atomically (write, fsync, rename), so a killed
trainer leaves the previous list whole.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from naksha.domain.insight.records import Record
from naksha.domain.learning import artifact as artifacts
from naksha.domain.learning.outcomes import ParsedOutcomes, record_from_agent_run, rfc3339
from naksha.domain.learning.training import TRAINER_VERSION, TrainingResult, train
from naksha.models.insightstream import Detector

VERSIONS_FILE = "model_versions.json"


@dataclass
class OfflineInput:
    data: ParsedOutcomes
    records: list[Record]
    detectors: list[Detector]
    unreadable: int


def read_input(directory: Path) -> OfflineInput:
    data = ParsedOutcomes()
    unreadable = 0
    for path in sorted(directory.glob("*.json")):
        if path.name == "detectors.json":
            continue
        try:
            content = json.loads(path.read_text())
        except (OSError, ValueError):
            unreadable += 1
            continue
        for item in content if isinstance(content, list) else [content]:
            data.add(as_record(item))
    data.outcomes.sort(key=lambda o: (o.finished_at, o.run))
    detectors: list[Detector] = []
    spec_file = directory / "detectors.json"
    if spec_file.exists():
        detectors = [Detector.model_validate(item) for item in json.loads(spec_file.read_text())]
    records = list(read_series(directory / "series"))
    return OfflineInput(data, records, detectors, unreadable)


def as_record(item: Any) -> Any:
    """An AgentRun object becomes its outcome record; anything else is taken as a record."""
    if isinstance(item, Mapping) and item.get("kind") == "AgentRun":
        return record_from_agent_run(item) or {"unfinished": True}
    return item


def read_series(directory: Path) -> Iterator[Record]:
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.jsonl")):
        with path.open() as lines:
            for line in lines:
                try:
                    item = json.loads(line)
                    labels = tuple(sorted((str(k), str(v)) for k, v in (item.get("labels") or {}).items()))
                    yield Record(float(item["ts"]), str(item["metric"]), float(item["value"]), labels)
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue


def train_offline(
    input_dir: Path,
    out_dir: Path,
    *,
    algorithm: str,
    params: Mapping[str, Any],
    holdout_fraction: float = 0.2,
    model: str = "model",
) -> dict[str, Any]:
    """Train, write the artifact and append to ``model_versions.json``; returns the new entry."""
    started = time.time()
    given = read_input(input_dir)
    versions_path = out_dir / VERSIONS_FILE
    versions = json.loads(versions_path.read_text()) if versions_path.exists() else []
    parent = versions[-1] if versions else None
    holder = None
    if parent is not None:
        try:
            holder = artifacts.decode((out_dir / parent["artifact"]).read_bytes(), parent["sha256"])
        except (OSError, KeyError, artifacts.ArtifactCorrupt):
            holder = None  # the previous artifact is gone or damaged: nothing to compare with
    result = train(
        algorithm,
        params,
        given.data,
        holdout_fraction,
        records=given.records,
        detectors=given.detectors,
        holder_artifact=holder,
    )
    data = artifacts.encode(result.artifact)
    digest = artifacts.checksum(data)
    version_id = f"{model}-v{len(versions) + 1}"
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact_name = f"{version_id}.json.gz"
    write_atomically(out_dir / artifact_name, data)
    entry = version_entry(result, version_id, artifact_name, digest, started, parent, params)
    entry["lineage"]["unreadableFiles"] = given.unreadable
    write_atomically(versions_path, json.dumps([*versions, entry], indent=2).encode())
    return entry


def version_entry(
    result: TrainingResult,
    version_id: str,
    artifact_name: str,
    digest: str,
    started: float,
    parent: Mapping[str, Any] | None,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    primary = "resolved-rate" if result.algorithm == "playbook-ranker" else "f1"
    return {
        "id": version_id,
        "created": rfc3339(time.time()),
        "algorithm": result.algorithm,
        "metrics": result.metrics,
        "baselineMetrics": result.baseline_metrics,
        "holderMetrics": result.holder_metrics,
        "score": result.metrics.get(primary),
        "evaluation": result.evaluation,
        "artifact": artifact_name,
        "sha256": digest,
        "lineage": {
            "parent": parent.get("id") if parent else None,
            "samples": result.samples,
            "holdout": result.holdout,
            "malformed": result.malformed,
            "datasetSha256": result.dataset_sha256,
            "trainerVersion": TRAINER_VERSION,
            "params": dict(params),
            "startedAt": rfc3339(started),
            "finishedAt": rfc3339(time.time()),
            **result.extra,
        },
    }


def write_atomically(path: Path, data: bytes) -> None:
    """Write beside the target, fsync, rename over it: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
