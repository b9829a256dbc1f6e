"""D.3, continuous learning: model versions, their artifacts (checksums re-computed), metrics,
verdicts, lineage and aliases, the outcome archives they learnt from, and the runs a model chose for.

Everything is read from the live objects (``LiveState``): a checksum is computed here from the
artifact ConfigMap's bytes and set beside the one the version published, so the report shows
whether they agree rather than repeating the status.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from naksha.controllers.modelversion.archive import KEY as ARCHIVE_KEY
from naksha.domain.learning.artifact import ARTIFACT_KEY
from naksha.report.capabilities import Capability
from naksha.report.common import (
    blocked_section,
    events_section,
    header,
    markdown_table,
    name_of,
    objects_section,
    on_local_plane,
    status_of,
    tests_section,
)
from naksha.report.junit import TestResults
from naksha.report.state import LiveState

LOCAL_JOBS = "Training Jobs' pods run as local processes on the local kubelet (no container runtime)."


def model_versions(
    capability: Capability, state: LiveState, results: TestResults | None, out: Path
) -> list[str]:
    versions = state.of("ModelVersion")
    lines = [*header(capability, state), *objects_section(capability, state)]
    lines += ["## Training runs", ""]
    rows = []
    for version in versions:
        lineage = status_of(version).get("lineage") or {}
        rows.append(
            (
                name_of(version),
                (version.get("spec") or {}).get("model"),
                lineage.get("algorithm"),
                status_of(version).get("job") or lineage.get("job"),
                lineage.get("window"),
                lineage.get("samples"),
                lineage.get("holdout"),
                lineage.get("malformed"),
                lineage.get("startedAt"),
                lineage.get("finishedAt"),
            )
        )
    headings = ("version", "model", "algorithm", "job", "window", "samples", "holdout", "malformed")
    lines += [*markdown_table((*headings, "started", "finished"), rows), ""] if rows else ["None.", ""]
    lines += [*artifacts_section(state, versions), *metrics_section(versions), *lineage_section(versions)]
    lines += [*aliases_section(state), *archives_section(state), *choices_section(state)]
    lines += [*events_section(capability, state), *tests_section(capability, results)]
    blocked = []
    if on_local_plane(state):
        blocked.append(LOCAL_JOBS)
    if any(is_generated_history(m) for m in state.config_maps.get("archives", [])):
        blocked.append(
            "Part of the outcomes learnt from is generated history (runs named `demo-history/…`, "
            "seeded by `naksha demo`, see docs/demo.md), not incidents of this cluster."
        )
    return lines + blocked_section(blocked)


def artifacts_section(state: LiveState, versions: list[dict[str, Any]]) -> list[str]:
    """The model files: one row per artifact, its checksum as published and as computed here."""
    lines = ["## Model artifacts", ""]
    by_name = {name_of(m): m for m in state.config_maps.get("artifacts", [])}
    rows = []
    for version in versions:
        artifact = status_of(version).get("artifact") or {}
        if not artifact:
            continue
        namespace = version["metadata"].get("namespace", "")
        config_map = by_name.get(f"{namespace}/{artifact.get('configMap')}")
        computed, size = computed_checksum(config_map, str(artifact.get("key") or ARTIFACT_KEY))
        agrees = "yes" if computed == artifact.get("sha256") else "**no**"
        rows.append(
            (
                f"{namespace}/{artifact.get('configMap')}",
                artifact.get("key"),
                size if size is not None else artifact.get("sizeBytes"),
                artifact.get("sha256"),
                computed or "not readable",
                agrees if computed else "n/a",
            )
        )
    if not rows:
        return [*lines, "No version has published an artifact.", ""]
    headings = ("ConfigMap", "key", "bytes", "sha256 (published)", "sha256 (computed here)", "agree")
    return [*lines, *markdown_table(headings, rows), ""]


def computed_checksum(config_map: dict[str, Any] | None, key: str) -> tuple[str | None, int | None]:
    encoded = ((config_map or {}).get("binaryData") or {}).get(key)
    if not encoded:
        return None, None
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None, None
    return hashlib.sha256(data).hexdigest(), len(data)


def metrics_section(versions: list[dict[str, Any]]) -> list[str]:
    lines = ["## Evaluation: metrics and verdicts", ""]
    rows = []
    for version in versions:
        status = status_of(version)
        for metric in status.get("metrics") or []:
            rows.append(
                (
                    name_of(version),
                    metric.get("name"),
                    metric.get("value"),
                    metric.get("holder"),
                    metric.get("baseline"),
                    metric.get("threshold"),
                    metric.get("direction") or "atLeast",
                    metric.get("passed"),
                )
            )
    headings = ("version", "metric", "value", "holder", "best fixed", "threshold", "direction", "passed")
    lines += [*markdown_table(headings, rows), ""] if rows else ["No version was evaluated.", ""]
    verdicts = [
        (
            name_of(v),
            (status_of(v).get("verdict") or {}).get("result"),
            ((status_of(v).get("verdict") or {}).get("evaluation") or {}).get("method"),
            (status_of(v).get("verdict") or {}).get("holder"),
            (status_of(v).get("verdict") or {}).get("message"),
        )
        for v in versions
        if status_of(v).get("verdict")
    ]
    if verdicts:
        lines += [
            *markdown_table(("version", "verdict", "method", "judged against", "message"), verdicts),
            "",
        ]
    return lines


def lineage_section(versions: list[dict[str, Any]]) -> list[str]:
    lines = ["## Lineage", ""]
    for version in versions:
        lineage = status_of(version).get("lineage")
        if lineage:
            lines += [f"- `{name_of(version)}`: `{json.dumps(lineage, sort_keys=True)}`"]
    return [*lines, ""] if len(lines) > 2 else [*lines, "No lineage recorded.", ""]


def aliases_section(state: LiveState) -> list[str]:
    lines = ["## Aliases", ""]
    rows = []
    for config_map in state.config_maps.get("aliases", []):
        for alias, text in sorted((config_map.get("data") or {}).items()):
            try:
                entry = json.loads(text)
            except ValueError:
                rows.append((name_of(config_map), alias, "unreadable", "", ""))
                continue
            previous = ", ".join(str(p.get("version")) for p in entry.get("previous") or []) or "none"
            rows.append((name_of(config_map), alias, entry.get("version"), entry.get("sha256"), previous))
    if not rows:
        return [*lines, "No alias is held.", ""]
    return [*lines, *markdown_table(("aliases ConfigMap", "alias", "holder", "sha256", "previous"), rows), ""]


def archive_records(config_map: dict[str, Any]) -> list[dict[str, Any]]:
    records = []
    for line in ((config_map.get("data") or {}).get(ARCHIVE_KEY) or "").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def is_generated_history(config_map: dict[str, Any]) -> bool:
    return any(str(r.get("run", "")).startswith("demo-history/") for r in archive_records(config_map))


def archives_section(state: LiveState) -> list[str]:
    lines = ["## Outcome archives (what the versions learnt from)", ""]
    rows = []
    for config_map in state.config_maps.get("archives", []):
        records = archive_records(config_map)
        sources = Counter(str(r.get("run", "")).split("/", 1)[0] for r in records)
        resolved = sum(1 for r in records if r.get("resolved") is True)
        by_source = ", ".join(f"{source}: {count}" for source, count in sorted(sources.items()))
        rows.append((name_of(config_map), len(records), resolved, by_source))
    if not rows:
        return [*lines, "No outcome archive.", ""]
    return [*lines, *markdown_table(("archive", "records", "resolved", "records by run prefix"), rows), ""]


def choices_section(state: LiveState) -> list[str]:
    """The AgentRuns whose playbook a model chose, and what it chose."""
    lines = ["## Runs that used a model", ""]
    rows = []
    for run in state.of("AgentRun"):
        status = status_of(run)
        choice = (status.get("state") or {}).get("playbookChoice") or status.get("playbookChoice")
        if choice:
            rows.append(
                (
                    name_of(run),
                    f"{choice.get('model')}@{choice.get('alias')}",
                    choice.get("modelVersion"),
                    choice.get("context"),
                    choice.get("playbook"),
                    choice.get("propensity"),
                    status.get("phase"),
                )
            )
    if not rows:
        return [*lines, "No run chose its playbook by model.", ""]
    headings = ("run", "model", "version", "context", "chose", "propensity", "phase")
    return [*lines, *markdown_table(headings, rows), ""]
