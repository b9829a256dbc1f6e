"""A running insight worker follows a detector-tuner model: when the alias moves it swaps the
detector's parameters without restarting and without losing its state; a corrupt artifact is
refused and the detector keeps what it had. The change-over time is measured, and the AgentRun an
anomaly starts names the version whose parameters fired it. A version with per-series parameters
judges each tuned series by its own and every other by the detector-wide set."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client
from tests.support import eventually
from tests.support.workers import WorkerProcess

from naksha.controllers.modelversion import aliases
from naksha.domain.learning import artifact
from naksha.kube import Kube
from naksha.models.group import GROUP, VERSION
from naksha.models.labels import DETECTOR_MODEL_ANNOTATION

SPEC = {
    "source": {"type": "http", "http": {"auth": "none"}},
    "detectors": [
        {
            "name": "latency",
            "metric": "latency",
            "method": "ewma",
            "minSamples": 30,
            "params": {"ewma": {"zscore": 4.0}},
            "model": {"name": "tuner", "alias": "production", "pollInterval": "200ms"},
        }
    ],
    # The run an anomaly starts names the tuned version that fired it (auto-demote attributes by it).
    "triggers": [
        {
            "name": "page",
            "detector": "latency",
            "agentRun": {"playbook": "page-oncall", "target": {"kind": "Deployment", "name": "api"}},
        }
    ],
}


def publish(
    core: client.CoreV1Api,
    kube: Kube,
    namespace: str,
    version: str,
    zscore: float,
    *,
    corrupt: bool = False,
    series: dict[str, float] | None = None,
) -> None:
    """Publish a tuner artifact (``series``: per-pod z-scores beside the detector-wide one)."""
    tuned = {"name": "latency", "metric": "latency", "method": "ewma", "params": {"ewma": {"zscore": zscore}}}
    document: dict[str, Any] = {"algorithm": "detector-tuner", "detectors": {"latency": tuned}}
    if series:
        document["series"] = {
            "latency": [
                {"labels": {"pod": pod}, "spec": {**tuned, "params": {"ewma": {"zscore": own}}}}
                for pod, own in series.items()
            ]
        }
    data = artifact.encode(document)
    digest = artifact.checksum(data)
    stored = data[:-1] + bytes([data[-1] ^ 1]) if corrupt else data
    name = f"{version}-artifact"
    body = {
        "metadata": {"name": name},
        "binaryData": {artifact.ARTIFACT_KEY: base64.b64encode(stored).decode()},
    }
    core.create_namespaced_config_map(namespace, body)
    aliases.move(kube, namespace, "tuner", "production", aliases.Holder(version, name, digest, time.time()))


def health(worker: WorkerProcess) -> dict[str, Any]:
    """The detector's model state from /health ({} while the worker is not listening yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/health", timeout=5) as response:
            return json.loads(response.read())["models"]["latency"]  # type: ignore[no-any-return]
    except OSError:
        return {}


def push(worker: WorkerProcess, records: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.port}/ingest",
        data=json.dumps(records).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 202)


def anomalies(worker: WorkerProcess) -> float:
    return worker.metric('naksha_insight_anomalies_total{detector="latency"') or 0.0


def test_the_worker_hot_swaps_when_the_alias_moves_and_refuses_a_corrupt_artifact(
    api_client: client.ApiClient, fresh_namespace: str, control_plane: Any, naksha_crds: None, tmp_path: Path
) -> None:
    kube, core = Kube(api_client), client.CoreV1Api(api_client)
    publish(core, kube, fresh_namespace, "tuner-v1", 6.0)
    worker = WorkerProcess(
        tmp_path,
        Path(control_plane.kubeconfig_path),
        namespace=fresh_namespace,
        stream="s",
        spec=SPEC,
        name="w",
    ).start()
    try:
        first = eventually(lambda: health(worker).get("version") == "tuner-v1" and health(worker), timeout=60)
        assert first["swaps"] == 1 and first["error"] is None
        start = time.time()
        push(worker, [{"ts": start + i, "metric": "latency", "value": 100.0 + i % 5 - 2} for i in range(300)])
        assert anomalies(worker) == 0

        moved = time.perf_counter()
        publish(core, kube, fresh_namespace, "tuner-v2", 12.0)
        eventually(lambda: health(worker).get("version") == "tuner-v2", timeout=30, interval=0.02)
        change_over = time.perf_counter() - moved
        print(f"hot swap: alias moved -> worker using tuner-v2 in {change_over * 1000:.0f} ms")
        assert change_over < 10
        assert health(worker)["state"] == "kept"

        # ~8 sigma: an anomaly under v1's 6 and the spec's 4, none under v2's 12; the baseline was
        # kept (a fresh one would still be warming up and judge nothing), so a spike is judged at once.
        push(worker, [{"ts": start + 301, "metric": "latency", "value": 112.0}])
        push(worker, [{"ts": start + 302, "metric": "latency", "value": 200.0}])
        eventually(lambda: anomalies(worker) == 1)
        runs = eventually(
            lambda: client.CustomObjectsApi(kube.api).list_namespaced_custom_object(
                GROUP, VERSION, fresh_namespace, "agentruns"
            )["items"],
            timeout=30,
        )
        assert [r["metadata"]["annotations"][DETECTOR_MODEL_ANNOTATION] for r in runs] == ["tuner-v2"]

        publish(core, kube, fresh_namespace, "tuner-v3", 3.0, corrupt=True)
        refused = eventually(lambda: health(worker).get("error") and health(worker), timeout=30)
        assert refused["version"] == "tuner-v2" and "tuner-v3 refused" in refused["error"]
        assert "does not match" in refused["error"]
    finally:
        worker.stop()


def test_a_series_with_parameters_of_its_own_is_judged_by_them_and_the_others_by_the_detectors(
    api_client: client.ApiClient, fresh_namespace: str, control_plane: Any, naksha_crds: None, tmp_path: Path
) -> None:
    kube, core = Kube(api_client), client.CoreV1Api(api_client)
    publish(core, kube, fresh_namespace, "tuner-v1", 4.0, series={"a": 12.0})
    spec = {**SPEC, "triggers": []}
    worker = WorkerProcess(
        tmp_path,
        Path(control_plane.kubeconfig_path),
        namespace=fresh_namespace,
        stream="s",
        spec=spec,
        name="w",
    ).start()
    try:
        eventually(lambda: health(worker).get("version") == "tuner-v1", timeout=60)
        start = time.time()
        push(
            worker,
            [
                {"ts": start + i, "metric": "latency", "value": 100.0 + i % 5 - 2, "labels": {"pod": pod}}
                for i in range(300)
                for pod in ("a", "b")
            ],
        )
        assert anomalies(worker) == 0
        # ~8 sigma on a: inside its own 12 (the detector-wide 4 would raise it); then a spike on b,
        # which the detector-wide set raises: once it is counted, a's blip was judged before it.
        push(worker, [{"ts": start + 301, "metric": "latency", "value": 112.0, "labels": {"pod": "a"}}])
        push(worker, [{"ts": start + 302, "metric": "latency", "value": 200.0, "labels": {"pod": "b"}}])
        eventually(lambda: anomalies(worker) >= 1, timeout=30)
        time.sleep(1.0)
        assert anomalies(worker) == 1
        # a's baseline is its own and warm: a spike on a is judged at once.
        push(worker, [{"ts": start + 303, "metric": "latency", "value": 200.0, "labels": {"pod": "a"}}])
        eventually(lambda: anomalies(worker) == 2, timeout=30)
    finally:
        worker.stop()
