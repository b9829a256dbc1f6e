"""ModelVersion on the local control plane: the training Job runs as a real process, the artifact
is published with its checksum, evaluation and promotion follow, and one version holds an alias."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import Counter
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
)

from naksha.cli import main
from naksha.controllers.modelversion import aliases, archive
from naksha.kube import Kube

WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # a naksha image: the local kubelet runs it as a process


@pytest.fixture
def history(api_client: client.ApiClient, fresh_namespace: str) -> Kube:
    kube = Kube(api_client)
    records = context_history(1500)
    assert archive.rewrite(kube, fresh_namespace, lambda _: records)
    return kube


class TestTrainingAndPromotion:
    def test_a_version_trains_in_a_job_publishes_its_checksum_and_is_promoted_automatically(
        self, naksha_operator: int, api_client: client.ApiClient, fresh_namespace: str, history: Kube
    ) -> None:
        custom, batch, core = (
            client.CustomObjectsApi(api_client),
            client.BatchV1Api(api_client),
            client.CoreV1Api(api_client),
        )
        custom.create_namespaced_custom_object(
            GROUP, VERSION, fresh_namespace, "modelversions", model_version("ranker-v1")
        )
        status = settled(custom, fresh_namespace, "ranker-v1", "Promoted")

        job = batch.read_namespaced_job("ranker-v1-train", fresh_namespace)
        assert job.spec.template.spec.containers[0].args == [
            "train",
            "--model-version",
            f"{fresh_namespace}/ranker-v1",
        ]
        assert job.metadata.owner_references[0].kind == "ModelVersion"
        # The pod ran the trainer as a process and exited 0 (the Job notices just after the write).
        eventually(
            lambda: batch.read_namespaced_job("ranker-v1-train", fresh_namespace).status.succeeded == 1
        )

        config_map = core.read_namespaced_config_map(status["artifact"]["configMap"], fresh_namespace)
        data = base64.b64decode(config_map.binary_data["artifact.json.gz"])
        assert hashlib.sha256(data).hexdigest() == status["artifact"]["sha256"]
        assert config_map.metadata.owner_references[0].name == "ranker-v1"

        lineage = status["lineage"]
        assert (lineage["samples"], lineage["algorithm"], lineage.get("parent")) == (
            1500,
            "playbook-ranker",
            None,
        )
        assert len(lineage["datasetSha256"]) == 64 and lineage["job"] == "ranker-v1-train"
        assert (
            status["verdict"]["result"] == "Passed" and status["verdict"]["evaluation"]["method"] == "replay"
        )
        (rate,) = [m for m in status["metrics"] if m["name"] == "resolved-rate"]
        assert rate["passed"] is True and rate["value"] > rate["baseline"]  # beats the best fixed playbook
        assert status["aliases"] == ["production"] and condition(status, "Promoted")["status"] == "True"
        holder = aliases.read_aliases(history, fresh_namespace, "ranker")["production"].holder
        assert (holder.version, holder.sha256) == ("ranker-v1", status["artifact"]["sha256"])

        # The same data again: no improvement over the holder on the same holdout, so no move.
        custom.create_namespaced_custom_object(
            GROUP, VERSION, fresh_namespace, "modelversions", model_version("ranker-v2")
        )
        second = settled(custom, fresh_namespace, "ranker-v2", "Evaluated")
        assert second["verdict"]["result"] == "NoImprovement" and second["verdict"]["holder"] == "ranker-v1"
        (rate,) = [m for m in second["metrics"] if m["name"] == "resolved-rate"]
        assert rate["holder"] == rate["value"]

        # Manual promotion (forced past the verdict), then rollback; status follows the alias map.
        assert main(["model", "promote", "ranker-v2", "-n", fresh_namespace]) == 1  # verdict not passed
        assert main(["model", "promote", "ranker-v2", "-n", fresh_namespace, "--force"]) == 0
        settled(custom, fresh_namespace, "ranker-v2", "Promoted")
        first = settled(custom, fresh_namespace, "ranker-v1", "Evaluated")
        assert condition(first, "Promoted")["reason"] == "AliasMoved"
        assert main(["model", "rollback", "ranker", "--alias", "production", "-n", fresh_namespace]) == 0
        settled(custom, fresh_namespace, "ranker-v1", "Promoted")
        settled(custom, fresh_namespace, "ranker-v2", "Evaluated")

    def test_too_few_samples_is_insufficient_data_and_nothing_is_promoted(
        self, naksha_operator: int, api_client: client.ApiClient, fresh_namespace: str, history: Kube
    ) -> None:
        custom = client.CustomObjectsApi(api_client)
        body = model_version("ranker-big", source={"minSamples": 100000})
        custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "modelversions", body)
        status = settled(custom, fresh_namespace, "ranker-big", "Evaluated")
        assert status["verdict"]["result"] == "InsufficientData"
        assert condition(status, "InsufficientData")["status"] == "True"
        assert aliases.read_aliases(history, fresh_namespace, "ranker") == {}

    def test_manual_policy_waits_for_the_promote_command(
        self,
        naksha_operator: int,
        api_client: client.ApiClient,
        fresh_namespace: str,
        history: Kube,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        custom = client.CustomObjectsApi(api_client)
        body = model_version("ranker-m", promotion={"policy": "manual"})
        custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "modelversions", body)
        status = settled(custom, fresh_namespace, "ranker-m", "Evaluated")
        assert condition(status, "AwaitingApproval")["reason"] == "AwaitingPromotion"
        assert main(["model", "promote", "ranker-m", "-n", fresh_namespace]) == 0
        status = settled(custom, fresh_namespace, "ranker-m", "Promoted")
        assert not any(c["type"] == "AwaitingApproval" for c in status["conditions"])
        capsys.readouterr()
        assert main(["model", "list", "ranker", "-n", fresh_namespace]) == 0
        (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ranker-m")]
        assert "Promoted" in row and "Passed" in row and "production" in row and "resolved-rate=" in row

    def test_bad_trainer_params_fail_the_version_with_the_reason(
        self, naksha_operator: int, api_client: client.ApiClient, fresh_namespace: str, history: Kube
    ) -> None:
        custom = client.CustomObjectsApi(api_client)
        body = model_version("ranker-bad", trainer={"params": {"contextFields": ["colour"]}})
        custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "modelversions", body)
        status = settled(custom, fresh_namespace, "ranker-bad", "Failed")
        assert condition(status, "Trained")["reason"] == "TrainingFailed"
        assert "contextFields" in status["message"] and "artifact" not in status


class TestAliases:
    def test_concurrent_promotions_leave_exactly_one_holder_and_a_single_history(
        self, api_client: client.ApiClient, fresh_namespace: str
    ) -> None:
        kube = Kube(api_client)
        moves: list[tuple[str | None, str]] = []
        lock = threading.Lock()

        def promoter(version: str) -> None:
            for _ in range(5):
                holder = aliases.Holder(version, "cm", "0" * 64)
                entry = aliases.move(kube, fresh_namespace, "m", "production", holder)
                assert entry is not None and entry.holder.version == version
                if entry.moved:
                    with lock:
                        moves.append((entry.previous[0].version if entry.previous else None, version))

        threads = [threading.Thread(target=promoter, args=(f"v{i}",)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        final = aliases.read_aliases(kube, fresh_namespace, "m")["production"]
        # Serialised moves form one path from "nobody" to the final holder: each applied move
        # displaced the holder the move before it installed. A lost update (two moves displacing
        # the same holder) would leave a version displaced more often than it was installed.
        assert len(moves) >= 6
        installed = Counter(new for _, new in moves)
        displaced = Counter(previous for previous, _ in moves)
        assert displaced[None] == 1
        for version in {f"v{i}" for i in range(6)}:
            expected = installed[version] - (1 if version == final.holder.version else 0)
            assert displaced[version] == expected, (version, moves)
        assert len({p.version for p in final.previous}) == len(final.previous)


class TestArchive:
    def test_concurrent_appends_lose_no_record_and_the_archive_stays_bounded(
        self, api_client: client.ApiClient, fresh_namespace: str
    ) -> None:
        kube = Kube(api_client)
        records = context_history(60)

        def appender(part: list[dict[str, Any]]) -> None:
            for record in part:
                archive.append(kube, fresh_namespace, record)

        threads = [threading.Thread(target=appender, args=(records[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sorted(r["run"] for r in archive.read_archive(kube, fresh_namespace)) == sorted(
            r["run"] for r in records
        )
        assert not archive.append(kube, fresh_namespace, records[0])  # a run is archived once

        many = context_history(archive.MAX_RECORDS + 100, seed=2)
        archive.rewrite(kube, fresh_namespace, lambda _: many)
        kept = archive.read_archive(kube, fresh_namespace)
        assert len(kept) == archive.MAX_RECORDS and kept[-1]["run"] == many[-1]["run"]

    def test_labels_reach_the_archive_and_export_writes_files_the_offline_trainer_reads(
        self, naksha_crds: None, api_client: client.ApiClient, fresh_namespace: str, tmp_path: Path
    ) -> None:
        kube = Kube(api_client)
        for record in context_history(200):
            record["run"] = f"{fresh_namespace}/{record['run'].split('/')[1]}"
            archive.append(kube, fresh_namespace, record)
        assert main(["label", "anomaly", "run-7", "-n", fresh_namespace, "--false-positive"]) == 0
        assert main(["label", "anomaly", "nope", "-n", fresh_namespace, "--incident"]) == 1
        (labelled,) = [r for r in archive.read_archive(kube, fresh_namespace) if r["run"].endswith("/run-7")]
        assert labelled["label"] == "false-positive"

        assert main(["export", "outcomes", "--out", str(tmp_path / "export"), "-n", fresh_namespace]) == 0
        assert len(list((tmp_path / "export").glob("*.json"))) == 200
        assert main(["train", "--input", str(tmp_path / "export"), "--out", str(tmp_path / "model")]) == 0
        versions = json.loads((tmp_path / "model" / "model_versions.json").read_text())
        assert versions[0]["lineage"]["samples"] == 200
