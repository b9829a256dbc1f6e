"""The report generator: every section of every report, valid PNG timelines, numbers from the objects."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from tests.support.report_state import (
    ARTIFACT_SHA,
    agent_run,
    chaos_experiment,
    live_state,
    model_config_maps,
)

from naksha.report import write_reports
from naksha.report.capabilities import CAPABILITIES, Capability
from naksha.report.state import WorkerProbe

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COMMON = ("## BLOCKED / simulated here", "## Events", "## Test results")
SECTIONS = {
    "D.1": ("## InsightStream objects", "## Backend chosen", "## Health output and metrics excerpt",
            "## Detectors", "## Timeline"),
    "D.2": ("## AgentRun objects", "## Outcomes", "## Checkpoints", "## Timeline"),
    "D.3": ("## ModelVersion objects", "## Training runs", "## Model artifacts",
            "## Evaluation: metrics and verdicts", "## Lineage", "## Aliases",
            "## Outcome archives (what the versions learnt from)", "## Runs that used a model"),
    "D.4": ("## EdgeNode objects", "## Registry", "## Triggers and results", "## Security settings per node",
            "## Security notes (from docs/federation.md)"),
    "D.5": ("## ChaosExperiment objects", "## Runs and verdicts", "## Timeline",
            "## Journals (steady state, fault, detection, remediation, recovery, restore)"),
    "D.6": ("## Rollout objects", "## Rollout history", "## Timeline"),
}  # fmt: skip


@pytest.fixture
def written(tmp_path: Path) -> Path:
    write_reports(None, tmp_path, junit=[], state=live_state())  # type: ignore[arg-type]
    return tmp_path


def test_every_report_has_the_sections_of_its_capability_and_the_shared_ones(written):
    for capability in CAPABILITIES:
        text = (written / capability.file).read_text()
        assert text.startswith(f"# {capability.report} {capability.title}\n")
        expected = SECTIONS[capability.report] + COMMON
        if capability.built():  # a capability in this build reports itself instead of its promises
            expected = tuple(heading for heading in expected if heading != "## Not in this build")
        for heading in expected:
            assert f"\n{heading}\n" in text, (capability.file, heading)


def test_the_timelines_are_valid_png_images_linked_from_their_reports(written):
    from matplotlib import image

    for report, picture in (
        ("D.1_insight_stream.md", "D.1_anomalies.png"),
        ("D.2_agent_framework.md", "D.2_agentrun_timeline.png"),
        ("D.5_chaos.md", "D.5_chaos_runs.png"),
        ("D.6_deploy_pipeline.md", "D.6_rollouts.png"),
    ):
        assert f"]({picture})" in (written / report).read_text()
        assert (written / picture).read_bytes()[:8] == PNG_SIGNATURE
        pixels = image.imread(written / picture)
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100


def test_the_numbers_are_the_objects_own(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    write_reports(None, first, junit=[], state=live_state())  # type: ignore[arg-type]
    changed = agent_run()
    changed["status"]["outcome"]["timeToRecoverSeconds"] = 98.765
    write_reports(None, second, junit=[], state=live_state(AgentRun=[changed]))  # type: ignore[arg-type]
    d2 = (first / "D.2_agent_framework.md").read_text()
    assert (
        "| shop/telemetry-scale-out-1 | scale-out-on-latency | Succeeded | True | scale:scale | 0.731 |" in d2
    )
    assert "12.345" in d2 and "98.765" not in d2
    assert "98.765" in (second / "D.2_agent_framework.md").read_text()
    d1 = (first / "D.1_insight_stream.md").read_text()
    assert "| shop/telemetry | 4242 | 7 | 3 | 1 |" in d1
    assert "| shop/telemetry | p99 | threshold | latency | 0 | 0.8731 | 2026-11-29T01:00:01Z |" in d1
    assert '{"status": "ok"}' in d1 and "4242.0" in d1
    d6 = (first / "D.6_deploy_pipeline.md").read_text()
    assert "08b1cdbf71b9c05e5badd9bc490ad9690b38ecf5" in d6 and "analysis canary-errors failed" in d6
    assert "| 807ba4b2a1 | 8d2ec85908 | 2026-11-29 01:11:16 UTC |" in d6


def test_nothing_to_draw_is_said_rather_than_drawn(tmp_path):
    state = live_state(AgentRun=[], Rollout=[], ChaosExperiment=[])
    write_reports(None, tmp_path, junit=[], state=state)  # type: ignore[arg-type]
    assert "_No run has recorded steps._" in (tmp_path / "D.2_agent_framework.md").read_text()
    assert not (tmp_path / "D.2_agentrun_timeline.png").exists()
    assert "_No run has injected a fault._" in (tmp_path / "D.5_chaos.md").read_text()
    assert not (tmp_path / "D.5_chaos_runs.png").exists()
    assert "None on this cluster" in (tmp_path / "D.6_deploy_pipeline.md").read_text()


def test_a_capability_without_a_controller_says_so_and_lists_itself_as_blocked(tmp_path, monkeypatch):
    monkeypatch.setattr(Capability, "built", lambda self: False)
    write_reports(None, tmp_path, junit=[], state=live_state())  # type: ignore[arg-type]
    chaos = (tmp_path / "D.5_chaos.md").read_text()
    assert "controller (`naksha.handlers.chaosexperiment`): **not in this build**" in chaos
    blocked = chaos.split("## BLOCKED / simulated here", 1)[1]
    assert "ChaosExperiment: no controller in this build; nothing of it ran." in blocked
    assert "Network faults" in blocked


def test_a_capability_whose_controller_exists_drops_the_not_built_section(tmp_path, monkeypatch):
    monkeypatch.setattr(Capability, "built", lambda self: True)
    write_reports(None, tmp_path, junit=[], state=live_state())  # type: ignore[arg-type]
    text = (tmp_path / "D.5_chaos.md").read_text()
    assert (
        "## Not in this build" not in text and "controller (`naksha.handlers.chaosexperiment`): built" in text
    )


def test_a_capability_whose_controller_is_missing_keeps_the_not_built_report(tmp_path, monkeypatch):
    monkeypatch.setattr(Capability, "built", lambda self: False)
    write_reports(None, tmp_path, junit=[], state=live_state())  # type: ignore[arg-type]
    text = (tmp_path / "D.3_cll_trainer.md").read_text()
    assert "## Not in this build" in text and "## Model artifacts" not in text


class TestTheLearningReport:
    def test_it_lists_the_artifact_with_its_published_and_recomputed_checksums_and_the_metrics(self, written):
        d3 = (written / "D.3_cll_trainer.md").read_text()
        assert "| shop/ranker-v1-artifact | artifact.json.gz | " in d3
        assert f"| {ARTIFACT_SHA} | {ARTIFACT_SHA} | yes |" in d3
        assert "| shop/ranker-v1 | resolved-rate | 0.8461 |  | 0.4712 | 0.6 | atLeast | True |" in d3
        assert "| shop/ranker-v1 | ranker | playbook-ranker | ranker-v1-train | 24h | 613 | 184 | 2 |" in d3
        assert '"datasetSha256": "' + "d" * 64 in d3  # the lineage, whole

    def test_bytes_that_do_not_match_the_published_checksum_are_flagged(self, tmp_path):
        state = live_state()
        state.config_maps = model_config_maps(artifact=b"tampered")
        write_reports(None, tmp_path, junit=[], state=state)  # type: ignore[arg-type]
        d3 = (tmp_path / "D.3_cll_trainer.md").read_text()
        assert "| **no** |" in d3 and "| yes |" not in d3

    def test_it_shows_the_alias_holder_the_archive_and_the_run_that_used_the_model(self, written):
        d3 = (written / "D.3_cll_trainer.md").read_text()
        assert f"| shop/ranker-model-aliases | production | ranker-v1 | {ARTIFACT_SHA} | none |" in d3
        assert "| shop/naksha-outcomes | 5 | 3 | demo-history: 4, shop: 1 |" in d3
        assert (
            "| shop/checkout-by-model | ranker@production | ranker-v1 | p99\\|Deployment | "
            "scale-out-on-latency | 0.995 | Succeeded |"
        ) in d3
        assert "generated history (runs named `demo-history/…`" in d3.split("## BLOCKED", 1)[1]


class TestTheFederationReport:
    def test_it_lists_the_registry_and_the_signed_triggers_with_their_results(self, written):
        d4 = (written / "D.4_federation.md").read_text()
        assert (
            "| shop/shop-17 | shop-17 | Ready | 2026-11-29T01:03:00Z | 2026-11-29T01:03:30Z | 0.1.0 | "
            "run-command | thumb-42a |"
        ) in d4
        assert "| shop/edge-trigger-5f1c | shop-17 | shop/shop-17-disk-usage |" in d4
        assert "| jti-7f3a9c | Succeeded | 0 |" in d4
        assert "| shop/shop-17 | True | False | 10m | 24h | False |" in d4

    def test_it_quotes_the_security_notes_of_the_federation_docs(self, written):
        d4 = (written / "D.4_federation.md").read_text()
        notes = d4.split("## Security notes (from docs/federation.md)", 1)[1]
        assert "**Threat model.**" in notes and "AlgorithmNotAllowed" in notes
        assert "| trigger | hub key |" in notes
        assert "## Events" in notes  # the report's own sections follow the quoted ones

    def test_without_the_docs_beside_the_install_it_says_where_they_are(self, tmp_path):
        from naksha.report.federation import notes_section

        lines = notes_section(tmp_path / "federation.md")
        assert lines[0] == "## Security notes" and "is not beside this install" in lines[2]


def test_the_chaos_report_lists_each_run_with_its_verdict_times_and_journal(written):
    d5 = (written / "D.5_chaos.md").read_text()
    runs = d5.split("## Runs and verdicts", 1)[1].split("## Journals", 1)[0]
    assert (
        "| shop/checkout-pod-kill | r1 | command | checkout-7f9c | Passed |  | scale-out-on-latency-1a2b "
        "| 2.0 s | 14.5 s |"
    ) in runs
    assert "![fault → AgentRun → recovery → verdict](D.5_chaos_runs.png)" in d5
    journal = d5.split("## Journals", 1)[1].split("## Events", 1)[0]
    assert "deleted pod checkout-7f9c" in journal and "steady-state-before" in journal
    assert "`network-delay`" in d5.split("## BLOCKED / simulated here", 1)[1]


def test_the_chaos_report_takes_its_times_from_the_runs(tmp_path):
    experiment = chaos_experiment()
    experiment["status"]["history"][0].update(timeToRecoverSeconds=33.3, failedExpectation="mttr-budget")
    write_reports(None, tmp_path, junit=[], state=live_state(ChaosExperiment=[experiment]))  # type: ignore[arg-type]
    runs = (tmp_path / "D.5_chaos.md").read_text().split("## Runs and verdicts", 1)[1]
    assert "| mttr-budget | scale-out-on-latency-1a2b | 2.0 s | 33.3 s |" in runs and "14.5 s" not in runs


def test_an_unreachable_worker_is_reported_with_the_reason(tmp_path):
    state = live_state()
    state.workers = [
        WorkerProbe("shop/telemetry", "http://10.0.0.1:8010", error="not reachable from here: timed out")
    ]
    write_reports(None, tmp_path, junit=[], state=state)  # type: ignore[arg-type]
    assert "Not read: not reachable from here: timed out." in (tmp_path / "D.1_insight_stream.md").read_text()


def test_the_local_control_plane_is_named_and_a_real_one_is_not_called_simulated(tmp_path):
    state = copy.deepcopy(live_state())
    state.server = {"gitVersion": "v1.31.2"}
    write_reports(None, tmp_path, junit=[], state=state)  # type: ignore[arg-type]
    d2 = (tmp_path / "D.2_agent_framework.md").read_text()
    assert "- Control plane: Kubernetes v1.31.2" in d2 and "local processes" not in d2


def test_without_matplotlib_the_report_says_why_there_is_no_timeline(tmp_path, monkeypatch):
    from naksha.report import plots

    monkeypatch.setattr(plots, "missing", lambda: "matplotlib is not installed, so no timeline was drawn")
    write_reports(None, tmp_path, junit=[], state=live_state())  # type: ignore[arg-type]
    assert (
        "_matplotlib is not installed, so no timeline was drawn_"
        in (tmp_path / "D.2_agent_framework.md").read_text()
    )
    assert not list(tmp_path.glob("*.png"))
