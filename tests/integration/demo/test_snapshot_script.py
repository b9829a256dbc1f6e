"""``scripts/generate_phase_snapshot.py D`` against a live control plane: the seed's entry point works."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def test_the_snapshot_script_writes_the_phase_d_snapshot_from_the_live_cluster(
    control_plane, naksha_crds, tmp_path
):
    (tmp_path / "benchmarks.json").write_text('{"agent": {"figures": {"runs_per_second": 41.5}}}')
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_phase_snapshot.py"), "D", "--out", str(tmp_path),
         "--kubeconfig", str(control_plane.kubeconfig_path), "--junit", str(tmp_path / "none.xml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    snapshot = tmp_path / "PhaseD_snapshot.md"
    assert result.stdout.strip() == str(snapshot)
    text = snapshot.read_text()
    for kind in ("InsightStream", "AgentRun", "ModelVersion", "EdgeNode", "ChaosExperiment", "Rollout"):
        assert f"| {kind} | served |" in text
    assert "| agent | runs_per_second | 41.5 |" in text


def test_the_snapshot_script_without_a_phase_prints_its_usage():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_phase_snapshot.py")], capture_output=True, text=True
    )
    assert result.returncode == 2 and "usage: generate_phase_snapshot.py PHASE" in result.stderr
