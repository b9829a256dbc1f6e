"""Retraining and auto-demotion: the I/O around ``domain.learning.retraining`` and ``promotion``.

``maybe_retrain`` creates the model's next ModelVersion (the same spec, ``parent`` set, its
generation in an annotation) when it is due, and deletes versions beyond the history limit.
``demotion`` compares the live figures of the alias holder with its predecessor's, from the runs
attributed to each version and carried into the outcome archive: for a playbook ranker the runs
whose playbook it chose (``status.playbookChoice.modelVersion``; the figure is the resolved rate),
for a detector tuner the runs its parameters' anomalies started (the annotation
``naksha.io/detector-model-version`` a worker's trigger sets; the figure is the share judged real
incidents, i.e. one less the false-positive rate, a human's ``naksha label anomaly`` winning).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from typing import Any

from naksha.controllers.modelversion import aliases
from naksha.controllers.modelversion.archive import read_archive
from naksha.domain.learning.outcomes import (
    LABELS,
    MalformedRecord,
    parse_time,
    record_from_agent_run,
)
from naksha.domain.learning.promotion import LiveFigures, should_demote
from naksha.domain.learning.retraining import (
    GENERATION_ANNOTATION,
    VersionInfo,
    beyond_history,
    next_version_name,
    retrain_due,
)
from naksha.kube import Conflict, KubeApi
from naksha.models.group import API_VERSION
from naksha.models.labels import MODEL_LABEL, RETRAIN_REASON_ANNOTATION
from naksha.models.modelversion import ModelVersionSpec
from naksha.models.resources import AGENT_RUNS, MODEL_VERSIONS


def generation_of(body: Mapping[str, Any]) -> int:
    text = ((body.get("metadata") or {}).get("annotations") or {}).get(GENERATION_ANNOTATION, "1")
    return int(text) if str(text).isdigit() else 1


def maybe_retrain(
    kube: KubeApi, namespace: str, name: str, spec: ModelVersionSpec, status: Mapping[str, Any], now: float
) -> str | None:
    """The next version's name when this call created it, else None."""
    assert spec.retrain is not None
    if status.get("retrainedAs"):
        return None  # this version had its successor already
    try:
        trained_at = parse_time((status.get("lineage") or {}).get("finishedAt"), "finishedAt")
    except MalformedRecord:
        trained_at = None
    if trained_at is None:
        return None
    new = 0
    if spec.retrain.min_new_outcomes is not None:
        for record in read_archive(kube, namespace):
            try:
                finished = parse_time(record.get("finishedAt"), "finishedAt")
            except MalformedRecord:
                continue
            new += finished is not None and finished > trained_at
    reason = retrain_due(
        schedule=spec.retrain.schedule,
        min_new_outcomes=spec.retrain.min_new_outcomes,
        trained_at=trained_at,
        now=now,
        new_outcomes=new,
    )
    if reason is None:
        return None
    body = kube.get(MODEL_VERSIONS, namespace, name)
    generation = generation_of(body) + 1
    successor = next_version_name(spec.model, generation - 1)
    new_spec = copy.deepcopy(dict(body.get("spec") or {}))
    new_spec["parent"] = name
    # Created by an earlier reconciliation that could not record it: the same name, so no twin.
    with contextlib.suppress(Conflict):
        kube.create(
            {
                "apiVersion": API_VERSION,
                "kind": "ModelVersion",
                "metadata": {
                    "name": successor,
                    "namespace": namespace,
                    "labels": {MODEL_LABEL: spec.model},
                    "annotations": {
                        GENERATION_ANNOTATION: str(generation),
                        RETRAIN_REASON_ANNOTATION: reason,
                    },
                },
                "spec": new_spec,
            }
        )
    trim_history(kube, namespace, spec.model, spec.retrain.history_limit)
    return successor


def trim_history(kube: KubeApi, namespace: str, model: str, limit: int) -> list[str]:
    held = {entry.holder.version for entry in aliases.read_aliases(kube, namespace, model).values()}
    versions = [
        VersionInfo(v["metadata"]["name"], generation_of(v), v["metadata"]["name"] in held)
        for v in kube.list(MODEL_VERSIONS, namespace)
        if (v.get("spec") or {}).get("model") == model
    ]
    doomed = beyond_history(versions, limit)
    for name in doomed:
        kube.delete(MODEL_VERSIONS, namespace, name)
    return doomed


def live_figures(
    records: list[Mapping[str, Any]], version: str, algorithm: str = "playbook-ranker"
) -> LiveFigures:
    """Uses of ``version`` and the good ones: resolved runs (ranker), or real incidents (tuner)."""
    if algorithm == "detector-tuner":
        fired = [r for r in records if r.get("detectorModelVersion") == version]
        return LiveFigures(len(fired), sum(1 for r in fired if incident_judgement(r) == "incident"))
    used = [r for r in records if r.get("modelVersion") == version]
    return LiveFigures(len(used), sum(1 for r in used if r.get("resolved") is True))


def incident_judgement(record: Mapping[str, Any]) -> str:
    """Whether a run's anomaly was real: a human label wins, else a run that acted says it was."""
    label = record.get("label")
    if label in LABELS:
        return str(label)
    return "incident" if record.get("acted") is True else "false-positive"


def demotion(kube: KubeApi, namespace: str, spec: ModelVersionSpec, name: str) -> str | None:
    """Roll the alias back when this holder did worse live than its predecessor; the reason, or None."""
    settings = spec.promotion.auto_demote
    if settings is None:
        return None
    entry = aliases.read_aliases(kube, namespace, spec.model).get(spec.promotion.alias)
    if entry is None or entry.holder.version != name or not entry.previous:
        return None
    predecessor = entry.previous[0].version
    records: dict[str, Mapping[str, Any]] = {str(r.get("run")): r for r in read_archive(kube, namespace)}
    for run in kube.list(AGENT_RUNS, namespace):
        live = record_from_agent_run(run)
        if live is not None:
            records[str(live["run"])] = live
    algorithm = spec.trainer.algorithm
    mine = live_figures(list(records.values()), name, algorithm)
    theirs = live_figures(list(records.values()), predecessor, algorithm)
    if not should_demote(mine, theirs, min_uses=settings.min_uses, margin=settings.margin):
        return None
    moved = aliases.roll_back(kube, namespace, spec.model, spec.promotion.alias, only_from=name)
    if moved is None or moved.holder.version == name:
        return None
    if algorithm == "detector-tuner":
        figures = (
            f"false positives {mine.uses - mine.good}/{mine.uses} of the anomalies its parameters fired"
            f" against {predecessor}'s {theirs.uses - theirs.good}/{theirs.uses}"
        )
    else:
        figures = f"resolved {mine.good}/{mine.uses} live against {predecessor}'s {theirs.good}/{theirs.uses}"
    return f"{figures} (margin {settings.margin}); {spec.promotion.alias} moved back to {predecessor}"
