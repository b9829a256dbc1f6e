"""Test results per capability from JUnit XML, and the phase snapshot built from the reports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.report_state import live_state

from naksha import __version__
from naksha.cli import main
from naksha.report import write_reports
from naksha.report.junit import capability_of, read
from naksha.report.snapshot import git_revision, render_snapshot

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.integration.rollout.test_gitops" name="test_revert" time="1.5"/>
<testcase classname="tests.unit.insight.test_detectors" name="test_spike" time="0.25">
  <failure message="assert 1 == 2">boom</failure></testcase>
<testcase classname="tests.unit.models.test_crds" name="test_sync" time="0.5">
  <skipped message="no helm"/></testcase>
<testcase classname="tests.integration.agent.test_engine" name="test_run" time="2.0">
  <error message="fixture">broken</error></testcase>
</testsuite></testsuites>
"""


def junit_file(tmp_path: Path) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    return path


def test_test_cases_are_counted_under_the_capability_of_their_folder(tmp_path):
    results = read([junit_file(tmp_path), tmp_path / "absent.xml"])
    assert results.missing == [tmp_path / "absent.xml"]
    assert (results.total.tests, results.total.passed, results.total.failures) == (4, 1, 1)
    assert (results.total.errors, results.total.skipped, results.total.seconds) == (1, 1, 4.25)
    assert results.per_capability["D.6"].passed == 1
    assert results.per_capability["D.1"].failed_names == ["tests.unit.insight.test_detectors::test_spike"]
    assert results.per_capability["D.2"].errors == 1
    assert results.per_capability["platform"].skipped == 1


def test_folders_outside_the_capabilities_are_the_platform():
    assert capability_of("tests.integration.apiserver.test_watch") == "platform"
    assert capability_of("tests.unit.chaos.test_verdicts") == "D.5"
    assert capability_of("conftest") == "platform"


def test_the_reports_show_the_test_results_of_their_capability(tmp_path):
    write_reports(None, tmp_path, junit=[junit_file(tmp_path)], state=live_state())  # type: ignore[arg-type]
    d1 = (tmp_path / "D.1_insight_stream.md").read_text()
    assert "| D.1 | 1 | 0 | 1 | 0 | 0 | 0.2 |" in d1
    assert "- failed: `tests.unit.insight.test_detectors::test_spike`" in d1


def test_the_snapshot_has_version_kinds_reports_benchmarks_tests_and_open_limits(tmp_path):
    state = live_state()
    write_reports(None, tmp_path, junit=[], state=state)  # type: ignore[arg-type]
    benchmarks = tmp_path / "benchmarks.json"
    benchmarks.write_text(
        json.dumps({"rollout": {"figures": {"rollback_seconds": 1.75}, "reference": "Flagger 5 min"}})
    )
    text = render_snapshot("D", state, tmp_path, [junit_file(tmp_path)], benchmarks)
    assert text.startswith("# Phase D snapshot\n")
    assert f"- naksha {__version__}" in text
    assert "| Rollout | served | built | 1 | RolledBack 1 |" in text
    assert "| ChaosExperiment | served | built | 1 | Idle 1 |" in text
    assert "[D.6_deploy_pipeline.md](D.6_deploy_pipeline.md)" in text
    assert "| rollout | rollback_seconds | 1.75 | Flagger 5 min |" in text
    assert "4 tests, 1 passed, 1 failed, 1 errors, 1 skipped" in text
    limits = text.split("## Open limits", 1)[1]
    assert "`network-delay` is refused: network-delay needs a privileged helper pod" in limits
    assert "The GitOps remote is a local bare repository" in limits


def test_the_snapshot_says_when_figures_and_reports_are_missing(tmp_path):
    text = render_snapshot("D", live_state(), tmp_path, [], tmp_path / "benchmarks.json")
    assert "run `make bench` to record benchmark figures" in text
    assert "D.1_insight_stream.md (not written)" in text
    assert "No JUnit XML found" in text


def test_a_phase_that_is_not_one_capital_letter_is_refused(capsys):
    assert main(["snapshot", "--phase", "d4"]) == 2
    assert "a phase is one capital letter" in capsys.readouterr().err


def test_a_kubeconfig_that_does_not_exist_is_refused_clearly(tmp_path, capsys):
    assert main(["report", "--kubeconfig", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_source_revision_is_dirty_for_changed_sources_and_not_for_rewritten_reports(
    tmp_path, monkeypatch
):
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "D.1_insight_stream.md").write_text("old\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
    head = git("rev-parse", "--short", "HEAD").strip()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports" / "D.1_insight_stream.md").write_text("regenerated\n")
    assert git_revision(tmp_path / "reports") == head
    assert git_revision() == f"{head}-dirty"
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_revision(tmp_path / "reports") == f"{head}-dirty"


def test_outside_a_git_checkout_the_revision_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_revision(tmp_path) == "unknown (not a git checkout)"
