"""Trainer pods SIGKILLed between training and writing (the crash point ``trainer.before-write``)
leave nothing published and are retried: a retried pod publishes the artifact with the checksum of
its bytes, and when every attempt dies the version fails with the Job's reason once the backoff
limit is reached. An artifact whose bytes do not match its recorded checksum is never published."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from tests.support import eventually
from tests.support.learning import (
    GROUP,
    VERSION,
    condition,
    context_history,
    model_version,
    settled,
    status_of,
)

from naksha.controllers.modelversion import aliases, archive
from naksha.crashpoints import ENV, ONCE_ENV
from naksha.domain.learning import artifact
from naksha.kube import Kube

WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # the trainer runs as a process


def trainer_pods(core: client.CoreV1Api, namespace: str, version: str) -> list[Any]:
    return list(
        core.list_namespaced_pod(namespace, label_selector=f"naksha.io/model-version={version}").items
    )


def test_a_trainer_killed_before_writing_publishes_nothing_and_its_retry_publishes_the_checksummed_artifact(
    naksha_operator: int,
    api_client: client.ApiClient,
    fresh_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    kube, custom, core = Kube(api_client), client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    archive.rewrite(kube, fresh_namespace, lambda _: context_history(600))
    # The first attempt to reach the point creates the marker and dies by SIGKILL before its one
    # write; the Job's retried pod finds the marker, carries on and writes.
    marker = tmp_path / "trainer-crashed"
    monkeypatch.setenv(ENV, "trainer.before-write")
    monkeypatch.setenv(ONCE_ENV, str(marker))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "modelversions", model_version("v3", trainer={"backoffLimit": 1})
    )

    def published() -> dict[str, Any]:
        status = status_of(custom, fresh_namespace, "v3")
        assert "artifact" in status and status.get("phase") in ("Evaluated", "Promoted"), status
        return status

    status: dict[str, Any] = eventually(published, timeout=180, interval=0.5)
    assert marker.read_text().split()[0] == "trainer.before-write"  # it fired, exactly once

    def both_attempts_finished() -> dict[str, Any]:
        pods = {p.metadata.name: p.status.phase for p in trainer_pods(core, fresh_namespace, "v3")}
        assert sorted(pods.values()) == ["Failed", "Succeeded"], pods
        return pods

    pods: dict[str, str] = eventually(both_attempts_finished, timeout=60, interval=0.5)
    logs = {phase: core.read_namespaced_pod_log(name, fresh_namespace) for name, phase in pods.items()}
    assert "crash point trainer.before-write: killing" in logs["Failed"]
    assert "crash point trainer.before-write: fired once already" in logs["Succeeded"]

    # The killed attempt left nothing; the retry's artifact is whole and its bytes hash to the
    # checksum the version publishes (and the trainer recorded beside them).
    config_map = core.read_namespaced_config_map("v3-artifact", fresh_namespace)
    assert config_map.metadata.name == status["artifact"]["configMap"]
    data = base64.b64decode(config_map.binary_data[artifact.ARTIFACT_KEY])
    assert artifact.checksum(data) == status["artifact"]["sha256"]
    assert json.loads(config_map.data["result.json"])["sha256"] == status["artifact"]["sha256"]
    assert artifact.decode(data, status["artifact"]["sha256"])["algorithm"] == "playbook-ranker"
    assert condition(status, "Trained")["status"] == "True"


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
