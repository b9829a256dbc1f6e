"""A trainer pod SIGKILLed before its write leaves nothing published and is retried; an artifact
whose bytes do not match its recorded checksum is never published."""

from __future__ import annotations

import base64
import json
import os
import signal
from typing import Any

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

from naksha.controllers.modelversion import archive
from naksha.domain.learning import artifact
from naksha.kube import Kube

WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # the trainer runs as a process
# Inherited by the training pods: each holds 6 s between training and writing its artifact.
OPERATOR_ENV = {"NAKSHA_TRAINER_TEST_PAUSE_BEFORE_WRITE": "6"}


def trainer_pods(core: client.CoreV1Api, namespace: str, version: str) -> list[Any]:
    return list(
        core.list_namespaced_pod(namespace, label_selector=f"naksha.io/model-version={version}").items
    )


def paused_pid(core: client.CoreV1Api, namespace: str, version: str) -> int:
    running = [p for p in trainer_pods(core, namespace, version) if p.status.phase == "Running"]
    assert len(running) == 1, "no trainer pod running yet"
    statuses = running[0].status.container_statuses or []
    container_id = statuses[0].container_id if statuses else ""
    assert container_id and container_id.startswith("local://"), container_id
    return int(container_id.removeprefix("local://"))


def test_a_trainer_killed_before_its_write_publishes_nothing_and_its_retry_does(
    naksha_operator: int, api_client: client.ApiClient, fresh_namespace: str
) -> None:
    kube, custom, core = Kube(api_client), client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    archive.rewrite(kube, fresh_namespace, lambda _: context_history(600))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "modelversions", model_version("v1")
    )

    pid = eventually(lambda: paused_pid(core, fresh_namespace, "v1"), timeout=60)
    (pod,) = trainer_pods(core, fresh_namespace, "v1")
    # Trained, holding before the write: the kill lands between training and publishing.
    eventually(
        lambda: "pausing" in core.read_namespaced_pod_log(pod.metadata.name, fresh_namespace), timeout=60
    )
    os.killpg(pid, signal.SIGKILL)
    status = status_of(custom, fresh_namespace, "v1")
    assert "artifact" not in status and status.get("phase") == "Training"
    assert not [
        c for c in core.list_namespaced_config_map(fresh_namespace).items if c.metadata.name == "v1-artifact"
    ]

    promoted = settled(custom, fresh_namespace, "v1", "Promoted")
    pods = sorted(p.status.phase for p in trainer_pods(core, fresh_namespace, "v1"))
    assert pods == ["Failed", "Succeeded"]  # the killed pod, and its retry that wrote the artifact
    stored = core.read_namespaced_config_map("v1-artifact", fresh_namespace)
    data = base64.b64decode(stored.binary_data[artifact.ARTIFACT_KEY])
    assert artifact.checksum(data) == promoted["artifact"]["sha256"]


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
