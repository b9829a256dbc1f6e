"""What ``naksha model promote|rollback|list``, ``naksha label anomaly`` and ``naksha export
outcomes`` do on the cluster. Each returns what to tell the user, or raises ``CommandRefused``
with the reason; the CLI (``naksha.cli.learning``) prints and picks the exit code.

Promotion and rollback move the alias map directly (atomically, see ``aliases``); the versions'
status follows on the operator's next look (``aliases`` in status, within seconds).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from naksha.controllers.modelversion import aliases, archive
from naksha.domain.learning.outcomes import LABEL_ANNOTATION, record_from_agent_run
from naksha.domain.learning.promotion import may_promote_manually
from naksha.kube import Kube, KubeApi, KubeError, NotFound
from naksha.models.resources import AGENT_RUNS, MODEL_VERSIONS


class CommandRefused(Exception):
    """The command could not be done; the message says why."""


def promote(namespace: str, name: str, *, alias: str | None, force: bool, kube: KubeApi | None = None) -> str:
    kube = kube or Kube()
    try:
        body = kube.get(MODEL_VERSIONS, namespace, name)
    except NotFound:
        raise CommandRefused(f"ModelVersion {namespace}/{name} not found") from None
    status = body.get("status") or {}
    spec = body.get("spec") or {}
    artifact = status.get("artifact")
    if not artifact:
        raise CommandRefused(f"{name} has no published artifact yet (phase {status.get('phase')})")
    allowed, why = may_promote_manually((status.get("verdict") or {}).get("result"), force=force)
    if not allowed:
        raise CommandRefused(f"{name} not promoted: {why}")
    alias = alias or (spec.get("promotion") or {}).get("alias") or "production"
    holder = aliases.Holder(name, artifact["configMap"], artifact["sha256"], time.time())
    entry = aliases.move(kube, namespace, spec["model"], alias, holder)
    previous = entry.previous[0].version if entry and entry.previous else "nobody"
    return f"{spec['model']}@{alias} -> {name} (was {previous})"


def rollback(namespace: str, model: str, alias: str, *, kube: KubeApi | None = None) -> str:
    kube = kube or Kube()
    before = aliases.read_aliases(kube, namespace, model).get(alias)
    if before is None:
        raise CommandRefused(f"model {model} has no alias {alias}")
    if not before.previous:
        raise CommandRefused(f"{model}@{alias} has no previous holder to go back to")
    entry = aliases.roll_back(kube, namespace, model, alias)
    assert entry is not None
    return f"{model}@{alias} -> {entry.holder.version} (was {before.holder.version})"


def show(namespace: str, model: str, *, kube: KubeApi | None = None) -> list[str]:
    kube = kube or Kube()
    versions = [
        v for v in kube.list(MODEL_VERSIONS, namespace) if (v.get("spec") or {}).get("model") == model
    ]
    held: dict[str, list[str]] = {}
    for alias, entry in aliases.read_aliases(kube, namespace, model).items():
        held.setdefault(entry.holder.version, []).append(alias)
    lines = [f"{'VERSION':<28} {'PHASE':<10} {'VERDICT':<17} {'ALIASES':<14} {'PARENT':<22} METRICS"]
    for version in sorted(versions, key=lambda v: str((v.get("metadata") or {}).get("creationTimestamp"))):
        name = version["metadata"]["name"]
        status = version.get("status") or {}
        metrics = ", ".join(
            f"{m['name']}={_figure(m.get('value'))}"
            + (f" (holder {_figure(m.get('holder'))})" if "holder" in m else "")
            for m in status.get("metrics") or []
        )
        parent = (version.get("spec") or {}).get("parent") or "-"
        verdict = (status.get("verdict") or {}).get("result", "-")
        holds = ",".join(sorted(held.get(name, []))) or "-"
        phase = status.get("phase", "-")
        lines.append(f"{name:<28} {phase:<10} {verdict:<17} {holds:<14} {parent:<22} {metrics}")
    return lines


def label(namespace: str, run: str, verdict: str, *, kube: KubeApi | None = None) -> str:
    """Annotate the run and relabel its archived record (a run may be archived and deleted)."""
    kube = kube or Kube()
    annotated = archived = False
    try:
        kube.merge_patch(
            AGENT_RUNS, namespace, run, {"metadata": {"annotations": {LABEL_ANNOTATION: verdict}}}
        )
        annotated = True
    except NotFound:
        pass  # cleaned up already: its archived record (below) still takes the label
    archived = archive.set_label(kube, namespace, f"{namespace}/{run}", verdict)
    if not (annotated or archived):
        raise CommandRefused(f"no AgentRun {namespace}/{run}, and none archived")
    where = " and ".join(w for w, done in (("the run", annotated), ("the archive", archived)) if done)
    return f"{namespace}/{run} labelled {verdict} ({where})"


def export(namespace: str, out: Path, *, kube: KubeApi | None = None) -> str:
    """One JSON file per outcome (archived and finished runs), readable by ``naksha train --input``."""
    kube = kube or Kube()
    records: dict[str, dict[str, Any]] = {str(r.get("run")): r for r in archive.read_archive(kube, namespace)}
    try:
        runs = kube.list(AGENT_RUNS, namespace)
    except KubeError as error:
        raise CommandRefused(f"listing AgentRuns failed: {error}") from None
    for run in runs:
        record = record_from_agent_run(run)
        if record is not None:
            records[str(record["run"])] = record
    out.mkdir(parents=True, exist_ok=True)
    for key, record in sorted(records.items()):
        (out / f"{key.replace('/', '_')}.json").write_text(json.dumps(record, sort_keys=True))
    return f"wrote {len(records)} outcome files to {out}"


def _figure(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
