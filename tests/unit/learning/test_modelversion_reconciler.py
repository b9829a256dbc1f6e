"""The ModelVersion reconciler's passes against an in-memory API: what each pass puts in the status.

A pass writes only the status fields its steps assigned (typed ``ModelVersionStatus``); the
training result travels from collecting to judging inside the pass and is never written; a
version trained and judged once is not trained again.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.support.fake_kube import FakeKube

from naksha.domain.learning import artifact as artifacts
from naksha.models.conditions import Reason
from naksha.models.kinds import MODEL_VERSION
from naksha.models.modelversion import ModelVersionStatus
from naksha.reconcilers import modelversion
from naksha.reconcilers.context import ReconcileContext
from naksha.workloads.trainer import artifact_config_map_name

NAMESPACE, NAME = "learning", "ranker-v1"
SPEC = {"model": "ranker", "trainer": {"algorithm": "playbook-ranker"}, "promotion": {"policy": "manual"}}


def version(status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "naksha.io/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "uid": "uid-1", "generation": 1},
        "spec": SPEC,
        **({"status": status} if status is not None else {}),
    }


def trained_config_map() -> dict[str, Any]:
    payload = artifacts.encode({"algorithm": "playbook-ranker", "scores": {"restart": 0.9}})
    result = {
        "sha256": artifacts.checksum(payload),
        "metrics": {"resolved-rate": 0.9},
        "holderMetrics": None,
        "holder": None,
        "baselineMetrics": {"resolved-rate": 0.5},
        "evaluation": {"holdoutRuns": 8},
        "lineage": {
            "algorithm": "playbook-ranker",
            "window": "24h",
            "samples": 40,
            "holdout": 8,
            "malformed": 0,
            "datasetSha256": "ab" * 32,
            "parent": None,
            "trainerVersion": "1",
            "params": {},
            "startedAt": "2026-11-28T12:00:00Z",
            "finishedAt": "2026-11-28T12:00:05Z",
        },
    }
    return config_map({"result.json": json.dumps(result)}, base64.b64encode(payload).decode())


def config_map(data: dict[str, str], artifact: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": artifact_config_map_name(NAME), "namespace": NAMESPACE},
        "data": data,
        **({"binaryData": {artifacts.ARTIFACT_KEY: artifact}} if artifact is not None else {}),
    }


def reconcile(kube: FakeKube, status: dict[str, Any] | None = None) -> ReconcileContext:
    context = ReconcileContext.from_body(MODEL_VERSION, version(status), kube=kube)
    return modelversion.reconcile(context)


def test_the_kind_status_is_the_typed_model_version_status() -> None:
    context = ReconcileContext.from_body(MODEL_VERSION, version())
    assert isinstance(context.status, ModelVersionStatus)


def test_a_finished_training_publishes_artifact_lineage_metrics_and_verdict_but_not_the_raw_result() -> None:
    patch = reconcile(FakeKube(version(), trained_config_map())).status_patch()
    assert patch["artifact"]["configMap"] == artifact_config_map_name(NAME)
    assert patch["artifact"]["sizeBytes"] > 0 and len(patch["artifact"]["sha256"]) == 64
    assert patch["lineage"]["datasetSha256"] == "ab" * 32 and "parent" not in patch["lineage"]
    assert patch["metrics"] == [{"name": "resolved-rate", "value": 0.9, "baseline": 0.5}]
    assert patch["verdict"]["result"] == "Passed" and patch["verdict"]["evaluation"] == {"holdoutRuns": 8}
    assert patch["aliases"] == [] and patch["phase"] == "Evaluated" and patch["job"]
    assert not {"trainingResult", "promotedAt", "retrainedAs", "message"} & set(patch)


def test_a_manual_policy_waits_for_the_promote_command() -> None:
    context = reconcile(FakeKube(version(), trained_config_map()))
    awaiting = [c for c in context.conditions if c["type"] == "AwaitingApproval"]
    assert awaiting and awaiting[0]["reason"] == "AwaitingPromotion"


def test_a_version_trained_and_judged_before_is_not_trained_again_nor_its_result_rewritten() -> None:
    first = reconcile(FakeKube(version(), trained_config_map())).status_patch()
    kube = FakeKube(version(first), trained_config_map())
    again = reconcile(kube, first).status_patch()
    assert not {"artifact", "lineage", "metrics", "verdict", "job"} & set(again)
    assert again["aliases"] == [] and again["phase"] == "Evaluated"
    assert [w for w in kube.writes if w[0] == "create"] == []


def test_a_training_that_could_not_be_done_fails_with_its_message() -> None:
    kube = FakeKube(version(), config_map({"result.json": json.dumps({"error": "only 3 outcomes"})}))
    context = reconcile(kube)
    patch = context.status_patch()
    assert patch["phase"] == "Failed" and "only 3 outcomes" in patch["message"]
    trained = next(c for c in context.conditions if c["type"] == "Trained")
    assert trained["status"] == "False" and trained["reason"] == "TrainingFailed"
    assert context.events[-1].reason is Reason.TRAINING_FAILED and context.events[-1].type == "Warning"
    assert not {"artifact", "verdict", "aliases"} & set(patch)


def test_a_training_still_running_reports_its_job_and_halts() -> None:
    context = reconcile(FakeKube(version()))
    patch = context.status_patch()
    assert patch["phase"] == "Training" and patch["job"] and context.halted
    assert not {"artifact", "verdict", "aliases"} & set(patch)
