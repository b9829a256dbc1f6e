"""The training Job of a ModelVersion and its result, as the operator sees them.

``ensure_job`` gives the version's pod its identity (ServiceAccount, Role, RoleBinding, owned by
the version) and creates its Job unless it exists. ``job_state`` reads whether the Job is still
running, finished, or gave up (backoff limit or deadline). ``read_result`` reads the artifact
ConfigMap the pod wrote and checks the artifact's bytes against the sha256 the pod recorded next to
them: only a verified artifact is ever published in the version's status.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
from dataclasses import dataclass
from typing import Any

from naksha.domain.learning import artifact as artifacts
from naksha.kube import Conflict, KubeApi, NotFound
from naksha.models.common import parse_duration
from naksha.models.labels import MODEL_VERSION_LABEL
from naksha.models.modelversion import ModelVersionSpec
from naksha.models.resources import CONFIG_MAPS, JOBS
from naksha.settings import OperatorSettings
from naksha.workloads.identity import build_identity, trainer_rules
from naksha.workloads.trainer import (
    artifact_config_map_name,
    build_training_job,
    training_job_name,
)

RESULT_KEY = "result.json"


def ensure_job(
    kube: KubeApi,
    *,
    namespace: str,
    version: str,
    spec: ModelVersionSpec,
    owner: dict[str, Any],
    settings: OperatorSettings,
) -> str:
    name = training_job_name(version)
    labels = {"app.kubernetes.io/managed-by": "naksha", MODEL_VERSION_LABEL: version}
    rules = trainer_rules(version)
    for obj in build_identity(name=name, namespace=namespace, rules=rules, labels=labels):
        obj["metadata"]["ownerReferences"] = [owner]
        kube.apply(obj)
    job = build_training_job(
        version=version,
        model=spec.model,
        namespace=namespace,
        image=settings.image,
        resources=spec.trainer.resources,
        deadline_seconds=max(1, int(parse_duration(spec.trainer.timeout))),
        backoff_limit=spec.trainer.backoff_limit,
        service_account=name,
        settings_env=os.environ,
    )
    job["metadata"]["ownerReferences"] = [owner]
    with contextlib.suppress(Conflict):  # created by an earlier reconciliation
        kube.create(job)
    return name


@dataclass(frozen=True)
class JobState:
    exists: bool
    succeeded: bool = False
    failure: str | None = None
    failed_pods: int = 0


def job_state(kube: KubeApi, namespace: str, name: str) -> JobState:
    try:
        job = kube.get(JOBS, namespace, name)
    except NotFound:
        return JobState(exists=False)
    status = job.get("status") or {}
    failure = None
    succeeded = False
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Failed":
            failure = f"{condition.get('reason', 'Failed')}: {condition.get('message', '')}".strip(": ")
        if condition.get("type") == "Complete":
            succeeded = True
    succeeded = succeeded or int(status.get("succeeded") or 0) > 0
    return JobState(True, succeeded, failure, int(status.get("failed") or 0))


@dataclass(frozen=True)
class TrainingOutput:
    config_map: str
    result: dict[str, Any]
    size: int


def read_result(kube: KubeApi, namespace: str, version: str) -> TrainingOutput | None:
    """The pod's verified result, or None when it wrote none. ``ArtifactCorrupt`` when the bytes do
    not match the recorded checksum (never published); a result carrying ``error`` failed training."""
    name = artifact_config_map_name(version)
    try:
        config_map = kube.get(CONFIG_MAPS, namespace, name)
    except NotFound:
        return None
    try:
        result = json.loads((config_map.get("data") or {})[RESULT_KEY])
    except (KeyError, ValueError):
        raise artifacts.ArtifactCorrupt(f"ConfigMap {name} has no readable {RESULT_KEY}") from None
    if not isinstance(result, dict):
        raise artifacts.ArtifactCorrupt(f"ConfigMap {name}: {RESULT_KEY} is not an object")
    if result.get("error"):
        return TrainingOutput(name, result, 0)
    missing = [key for key in ("sha256", "metrics", "lineage") if key not in result]
    if missing:
        raise artifacts.ArtifactCorrupt(f"ConfigMap {name}: {RESULT_KEY} lacks {', '.join(missing)}")
    try:
        data = base64.b64decode((config_map.get("binaryData") or {})[artifacts.ARTIFACT_KEY], validate=True)
    except (KeyError, binascii.Error):
        raise artifacts.ArtifactCorrupt(
            f"ConfigMap {name} has no readable {artifacts.ARTIFACT_KEY}"
        ) from None
    artifacts.decode(data, str(result.get("sha256")))
    return TrainingOutput(name, result, len(data))


def read_artifact(kube: KubeApi, namespace: str, config_map: str, sha256: str) -> dict[str, Any]:
    """A published artifact, verified against ``sha256`` (``ArtifactCorrupt`` otherwise)."""
    try:
        body = kube.get(CONFIG_MAPS, namespace, config_map)
        data = base64.b64decode((body.get("binaryData") or {})[artifacts.ARTIFACT_KEY], validate=True)
    except (NotFound, KeyError, binascii.Error) as error:
        raise artifacts.ArtifactCorrupt(f"artifact {config_map} is unreadable: {error}") from None
    return artifacts.decode(data, sha256)
