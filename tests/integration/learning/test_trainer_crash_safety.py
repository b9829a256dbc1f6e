"""Trainer pods SIGKILLed between training and writing (the crash point ``trainer.before-write``)
leave nothing published and are retried per the backoff limit, then the version fails with the
Job's reason; an artifact whose bytes do not match its recorded checksum is never published."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from kubernetes import client
from tests.support.learning import (
    GROUP,
    VERSION,
    condition,
    context_history,
    model_version,
    settled,
)

from naksha.controllers.modelversion import aliases, archive
from naksha.crashpoints import ENV
from naksha.domain.learning import artifact
from naksha.kube import Kube

WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # the trainer runs as a process


def trainer_pods(core: client.CoreV1Api, namespace: str, version: str) -> list[Any]:
    return list(
        core.list_namespaced_pod(namespace, label_selector=f"naksha.io/model-version={version}").items
    )


def test_trainers_killed_between_training_and_writing_publish_nothing_and_the_version_fails_after_retries(
    naksha_operator: int, api_client: client.ApiClient, fresh_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube, custom, core = Kube(api_client), client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    archive.rewrite(kube, fresh_namespace, lambda _: context_history(600))
    # The training pods inherit the crash point from the operator: each attempt trains, then dies
    # by SIGKILL before its one write.
    monkeypatch.setenv(ENV, "trainer.before-write")
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "modelversions", model_version("v1", trainer={"backoffLimit": 1})
    )
    failed = settled(custom, fresh_namespace, "v1", "Failed")
    assert condition(failed, "Trained")["reason"] == "TrainingFailed"
    assert "BackoffLimitExceeded" in failed["message"]
    pods = trainer_pods(core, fresh_namespace, "v1")
    assert sorted(p.status.phase for p in pods) == ["Failed", "Failed"]  # the first attempt and its retry
    for pod in pods:
        log = core.read_namespaced_pod_log(pod.metadata.name, fresh_namespace)
        assert "crash point trainer.before-write" in log
    assert "artifact" not in failed
    assert not [
        c for c in core.list_namespaced_config_map(fresh_namespace).items if c.metadata.name == "v1-artifact"
    ]
    assert not aliases.read_aliases(kube, fresh_namespace, "ranker")


def test_an_artifact_that_does_not_match_its_checksum_is_never_published(
    naksha_operator: int, api_client: client.ApiClient, fresh_namespace: str
) -> None:
    kube, custom, core = Kube(api_client), client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    archive.rewrite(kube, fresh_namespace, lambda _: context_history(600))
    # Bytes and a checksum that disagree, where the trainer would write (it finds them and stops).
    data = artifact.encode({"algorithm": "playbook-ranker"})
    body = {
        "metadata": {"name": "v2-artifact"},
        "binaryData": {artifact.ARTIFACT_KEY: base64.b64encode(data[:-1] + bytes([data[-1] ^ 1])).decode()},
        "data": {
            "result.json": json.dumps({"sha256": artifact.checksum(data), "metrics": {}, "lineage": {}})
        },
    }
    core.create_namespaced_config_map(fresh_namespace, body)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "modelversions", model_version("v2")
    )
    failed = settled(custom, fresh_namespace, "v2", "Failed")
    assert condition(failed, "Trained")["reason"] == "ArtifactCorrupt"
    assert "artifact" not in failed and "does not match" in failed["message"]
