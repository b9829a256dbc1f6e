"""``naksha train --input DIR --out DIR``: files in, artifact and model_versions.json out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.learning import context_history, labelled_series, loose_detector

from naksha.cli import main
from naksha.domain.learning import artifact
from naksha.domain.learning.ranker import PlaybookRanker


def write_runs(directory: Path, records: list[dict[str, object]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for index, record in enumerate(records):
        (directory / f"run-{index:05d}.json").write_text(json.dumps(record))


class TestRanker:
    def test_training_writes_a_verifiable_artifact_and_a_version_entry(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        write_runs(tmp_path / "in", context_history(1200))
        assert (
            main(
                [
                    "train",
                    "--input",
                    str(tmp_path / "in"),
                    "--out",
                    str(tmp_path / "out"),
                    "--model",
                    "ranker",
                ]
            )
            == 0
        )
        versions = json.loads((tmp_path / "out" / "model_versions.json").read_text())
        assert [v["id"] for v in versions] == ["ranker-v1"]
        entry = versions[0]
        assert set(entry) >= {"id", "created", "metrics", "score", "sha256", "lineage"}
        assert entry["score"] == entry["metrics"]["resolved-rate"] > entry["baselineMetrics"]["resolved-rate"]
        data = (tmp_path / "out" / entry["artifact"]).read_bytes()
        model = PlaybookRanker.from_artifact(artifact.decode(data, entry["sha256"]))
        assert model.best("errors|Deployment") == "rollback"
        assert "ranker-v1: score" in capsys.readouterr().out

    def test_a_second_training_names_the_first_as_parent_and_compares_with_it(self, tmp_path: Path) -> None:
        write_runs(tmp_path / "in", context_history(600))
        args = ["train", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out")]
        assert main(args) == 0 and main(args) == 0
        versions = json.loads((tmp_path / "out" / "model_versions.json").read_text())
        assert versions[1]["lineage"]["parent"] == versions[0]["id"] == "model-v1"
        assert versions[1]["holderMetrics"] == versions[0]["metrics"]  # same data, same holdout
        assert versions[1]["lineage"]["datasetSha256"] == versions[0]["lineage"]["datasetSha256"]

    def test_malformed_records_and_unreadable_files_are_counted_not_fatal(self, tmp_path: Path) -> None:
        write_runs(tmp_path / "in", context_history(300))
        (tmp_path / "in" / "broken.json").write_text("{not json")
        (tmp_path / "in" / "bad-record.json").write_text(json.dumps([{"run": "x"}, {"resolved": 3}]))
        assert main(["train", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
        lineage = json.loads((tmp_path / "out" / "model_versions.json").read_text())[0]["lineage"]
        assert (lineage["samples"], lineage["malformed"], lineage["unreadableFiles"]) == (300, 2, 1)

    def test_agent_run_objects_are_read_as_their_outcomes(self, tmp_path: Path) -> None:
        runs = [
            {
                "kind": "AgentRun",
                "metadata": {"name": f"r{i}", "namespace": "default"},
                "spec": {"playbookRef": {"name": "restart"}, "signal": {"detector": "latency"}},
                "status": {
                    "phase": "Succeeded",
                    "finishedAt": f"2026-11-28T10:{i:02d}:00Z",
                    "outcome": {"resolved": i % 3 != 0, "actions": ["a:restart"]},
                },
            }
            for i in range(30)
        ]
        write_runs(tmp_path / "in", runs)
        assert main(["train", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
        assert (
            json.loads((tmp_path / "out" / "model_versions.json").read_text())[0]["lineage"]["samples"] == 30
        )


class TestTuner:
    def test_the_tuner_trains_from_detectors_series_and_labels(self, tmp_path: Path) -> None:
        records, outcomes = labelled_series(samples=8000, incidents=10)
        write_runs(tmp_path / "in", outcomes)
        (tmp_path / "in" / "detectors.json").write_text(
            json.dumps([loose_detector().model_dump(by_alias=True)])
        )
        (tmp_path / "in" / "series").mkdir()
        (tmp_path / "in" / "series" / "latency.jsonl").write_text(
            "\n".join(json.dumps({"ts": r.ts, "metric": r.metric, "value": r.value}) for r in records)
            + "\nbad\n"
        )
        args = [
            "train",
            "--algorithm",
            "detector-tuner",
            "--input",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
        ]
        assert main([*args, "--holdout-fraction", "0.3"]) == 0
        entry = json.loads((tmp_path / "out" / "model_versions.json").read_text())[0]
        assert entry["evaluation"]["falsePositives"] < entry["evaluation"]["baselineFalsePositives"]
        assert entry["lineage"]["records"] == 8000


class TestBadArguments:
    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["--params", "[1]"], "must be a JSON object"),
            (["--params", "{"], "is not JSON"),
            (["--holdout-fraction", "1.5"], "between 0 and 1"),
            (["--params", '{"colour": 1}'], "unknown trainer params: colour"),
        ],
    )
    def test_bad_arguments_are_explained(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
    ) -> None:
        write_runs(tmp_path / "in", context_history(50))
        code = main(["train", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out"), *extra])
        assert code != 0 and message in capsys.readouterr().err
        assert not (tmp_path / "out" / "model_versions.json").exists()

    def test_a_missing_input_directory_is_explained(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["train", "--input", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
        assert "is not a directory" in capsys.readouterr().err

    def test_neither_mode_is_explained(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["train"]) == 2
        assert "--model-version" in capsys.readouterr().err
