"""``naksha train --model-version NS/NAME``: the training Job pod's program.

It reads the version's spec, gathers its data (``data``), trains with the same function as the
offline trainer, and writes one ConfigMap, ``<version>-artifact``, owned by the version: the
artifact's bytes in ``binaryData`` and, in ``data``, ``result.json`` with the sha256 of those
bytes, the metrics, the holder's metrics on the same holdout and the lineage. It is one create:
the API server stores all of it or nothing, so a pod killed at any point leaves no half-written
artifact, and the retried pod writes it whole (or finds it written and stops). The operator
checks the bytes against the sha256 before it publishes anything.

A training that cannot be done (bad params, a stream without history) writes ``result.json``
with ``error`` and exits 0: retrying would fail the same way. Anything else (the API unreachable)
exits 1 and the Job retries the pod.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from typing import Any

from naksha.controllers.modelversion.training import RESULT_KEY
from naksha.crashpoints import crash_point
from naksha.domain.insight.records import Record
from naksha.domain.learning import artifact as artifacts
from naksha.domain.learning.outcomes import rfc3339
from naksha.domain.learning.training import TRAINER_VERSION, TrainingError, train
from naksha.kube import Conflict, Kube, KubeError, NotFound
from naksha.models.group import API_VERSION
from naksha.models.insightstream import Detector
from naksha.models.labels import MODEL_LABEL, MODEL_VERSION_LABEL
from naksha.models.modelversion import ModelVersionSpec
from naksha.models.resources import MODEL_VERSIONS
from naksha.services.trainer import data
from naksha.workloads.trainer import (
    artifact_config_map_name,
    training_job_name,
)

logger = logging.getLogger(__name__)


def run_training_job(namespace: str, name: str) -> int:
    logging.basicConfig(
        level=os.environ.get("NAKSHA_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(message)s"
    )
    kube = Kube()
    try:
        body = kube.get(MODEL_VERSIONS, namespace, name)
    except NotFound:
        logger.warning("ModelVersion %s/%s does not exist; nothing to train", namespace, name)
        return 0
    except KubeError as error:
        logger.error("reading ModelVersion %s/%s failed: %s", namespace, name, error)
        return 1
    try:
        result, payload = train_version(kube, namespace, body)
    except KubeError as error:
        logger.error("training %s/%s: the API failed: %s", namespace, name, error)
        return 1
    crash_point("trainer.before-write")
    return write_result(kube, namespace, body, result, payload)


def train_version(kube: Kube, namespace: str, body: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    """The result document and the artifact's bytes (None when training could not be done)."""
    started = time.time()
    spec = ModelVersionSpec.model_validate(body.get("spec") or {})
    try:
        outcomes = data.gather_outcomes(kube, namespace, spec, started)
        detectors: list[Detector] = []
        records: list[Record] = []
        if spec.trainer.algorithm == "detector-tuner":
            detectors, records = data.gather_detectors_and_history(kube, namespace, spec, started)
        holder, holder_artifact = data.holder_artifact(kube, namespace, spec)
        trained = train(
            spec.trainer.algorithm,
            spec.trainer.params,
            outcomes,
            spec.evaluation.holdout_fraction,
            records=records,
            detectors=detectors,
            holder_artifact=holder_artifact,
        )
        payload = artifacts.encode(trained.artifact)
    except (TrainingError, artifacts.ArtifactTooLarge) as error:
        return {"error": str(error), "reason": type(error).__name__}, None
    return (
        {
            "sha256": artifacts.checksum(payload),
            "algorithm": trained.algorithm,
            "metrics": trained.metrics,
            "holderMetrics": trained.holder_metrics,
            "holder": holder if trained.holder_metrics is not None else None,
            "baselineMetrics": trained.baseline_metrics,
            "evaluation": trained.evaluation,
            "lineage": {
                "algorithm": trained.algorithm,
                "window": spec.source.window,
                "samples": trained.samples,
                "holdout": trained.holdout,
                "malformed": trained.malformed,
                "datasetSha256": trained.dataset_sha256,
                "parent": spec.parent,
                "trainerVersion": TRAINER_VERSION,
                "params": dict(spec.trainer.params),
                "startedAt": rfc3339(started),
                "finishedAt": rfc3339(time.time()),
                "job": training_job_name(body["metadata"]["name"]),
                **({"records": trained.extra["records"]} if "records" in trained.extra else {}),
            },
        },
        payload,
    )


def write_result(
    kube: Kube, namespace: str, body: dict[str, Any], result: dict[str, Any], payload: bytes | None
) -> int:
    meta = body["metadata"]
    config_map: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": artifact_config_map_name(meta["name"]),
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "naksha",
                MODEL_VERSION_LABEL: meta["name"],
                MODEL_LABEL: str((body.get("spec") or {}).get("model", "")),
            },
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "ModelVersion",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "data": {RESULT_KEY: json.dumps(result, sort_keys=True)},
    }
    if payload is not None:
        config_map["binaryData"] = {artifacts.ARTIFACT_KEY: base64.b64encode(payload).decode()}
    try:
        kube.create(config_map)
    except Conflict:
        logger.info("the artifact of %s/%s was written by an earlier attempt", namespace, meta["name"])
        return 0
    except KubeError as error:
        logger.error("writing the artifact of %s/%s failed: %s", namespace, meta["name"], error)
        return 1
    logger.info("trained %s/%s: %s", namespace, meta["name"], result.get("error") or result.get("metrics"))
    return 0
