"""The benchmarks' figures land in one JSON file that the phase snapshot reads."""

from __future__ import annotations

import json
import time

from benchmarks.results import record
from tests.support.report_state import live_state

from naksha.report.snapshot import render_snapshot


def test_each_benchmark_keeps_one_entry_replaced_by_its_latest_run(tmp_path, monkeypatch):
    path = tmp_path / "reports" / "benchmarks.json"
    monkeypatch.setenv("NAKSHA_BENCH_RESULTS", str(path))
    record("rollout", {"rollback_served_seconds": 1.23456789}, reference="Flagger 300 s")
    record("agent", {"runs_per_second_200": 41.0})
    record("rollout", {"rollback_served_seconds": 0.9})
    recorded = json.loads(path.read_text())
    assert sorted(recorded) == ["agent", "rollout"]
    assert recorded["rollout"]["figures"] == {"rollback_served_seconds": 0.9}
    assert recorded["agent"]["figures"] == {"runs_per_second_200": 41.0}
    text = render_snapshot("D", live_state(), tmp_path, [], path)
    assert "| agent | runs_per_second_200 | 41.0 |" in text


def test_figures_are_rounded_and_an_unreadable_file_is_kept_aside(tmp_path, monkeypatch):
    path = tmp_path / "benchmarks.json"
    path.write_text("{not json")
    monkeypatch.setenv("NAKSHA_BENCH_RESULTS", str(path))
    record("insight", {"kafka_records_per_second": 123456.789012, "broker": "tansu"})
    assert (tmp_path / "benchmarks.unreadable.json").read_text() == "{not json"
    figures = json.loads(path.read_text())["insight"]["figures"]
    assert figures == {"kafka_records_per_second": 123456.789, "broker": "tansu"}
    assert time.strftime("%Y-%m-%d", time.gmtime()) in json.loads(path.read_text())["insight"]["recorded"]
