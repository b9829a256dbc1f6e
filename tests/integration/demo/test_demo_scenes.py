"""The demo's story, headless, on the local control plane: each scene's outcome is read back from the objects.

The same code path as ``make demo`` (``naksha.demo.story.play``) on the session's control plane
(the emulator, or the real kube-apiserver with ``--backend=real``), with the real operator (kopf
runtime, its own handlers), tansu as the Kafka-protocol broker, and real ``naksha demo-app`` and
``naksha insight-worker`` processes in their pods' network namespaces. Afterwards ``naksha
report`` writes D.1-D.6 from what the story left behind.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from tests.support import ROOT
from tests.support.pods import needs_namespaces

from naksha.controllers.modelversion.aliases import parse_entry
from naksha.demo.progress import Progress
from naksha.demo.scenes import SCENES
from naksha.demo.stage import Stage, Timings
from naksha.demo.story import play
from naksha.demo.telemetry import LATENCY_LIMIT_SECONDS
from naksha.kube import Kube

pytestmark = needs_namespaces
WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # a naksha image: the local kubelet runs it as a process
GROUP, VERSION = "naksha.io", "v1alpha1"


@pytest.fixture(scope="module")
def story(
    naksha_operator, control_plane, api_client, tansu_broker, tmp_path_factory
) -> Iterator[dict[str, Any]]:
    namespace = f"demo-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": namespace}})
    stage = Stage(
        kubeconfig=Path(control_plane.kubeconfig_path),
        namespace=namespace,
        bootstrap=tansu_broker.bootstrap,
        state_dir=tmp_path_factory.mktemp("demo"),
        examples=ROOT / "examples" / "gitops",
        progress=Progress(None),
        kube=Kube(api_client),
        timings=Timings(steady_seconds=4, wait_seconds=120, poll_seconds=0.3),
        image=WORKER_IMAGE,
    )
    try:
        reports = {report.number: report for report in play(stage, SCENES)}
        yield {"stage": stage, "reports": reports, "namespace": namespace}
    finally:
        stage.close()  # the hub and the edge agent scene 5 started


def custom(api_client: client.ApiClient, namespace: str, plural: str, name: str | None = None) -> Any:
    api = client.CustomObjectsApi(api_client)
    if name is None:
        return api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]
    return api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)


def triggered(run: dict[str, Any], trigger: str) -> bool:
    """A run this trigger of the stream created (scene 2's run carries a signal too, but no dedupe key)."""
    signal = run["spec"].get("signal") or {}
    return bool(signal.get("dedupeKey")) and run["metadata"]["name"].startswith(f"telemetry-{trigger}-")


def test_scene_1_remediates_a_latency_spike_with_one_agent_run_that_scales_out_and_resolves(
    story, api_client
):
    report = story["reports"][1]
    assert report.played and report.ok, (report.reason, story["stage"].progress.messages(1))
    namespace = story["namespace"]
    (run,) = [r for r in custom(api_client, namespace, "agentruns") if triggered(r, "scale-out")]
    status = run["status"]
    assert status["phase"] == "Succeeded"
    assert status["outcome"]["resolved"] is True and status["outcome"]["actions"] == ["scale:scale"]
    signal = run["spec"]["signal"]
    assert signal["detector"] == "p99-latency" and signal["value"] > LATENCY_LIMIT_SECONDS
    assert status["outcome"]["timeToRecoverSeconds"] > 0
    (action,) = status["actions"].values()  # the scale it made, as its own record says
    assert action["wpk"] == "scale" and (action["result"]["previous"], action["result"]["replicas"]) == (2, 5)
    result = report.result
    assert result.agent_runs == [run["metadata"]["name"]] and result.replicas_after == 5
    # The traffic saw the spike, and the recovery.
    assert result.peak_p99_seconds > LATENCY_LIMIT_SECONDS > result.final_p99_seconds
    # The run ended on the detector's recovery, as its last verify step read it from the stream.
    verify = [step for step in status["steps"] if step["node"] == "verify"][-1]
    assert verify["result"]["anomalous"] is False and verify["result"]["activeSeries"] == 0
    printed = "\n".join(story["stage"].progress.messages(1))
    assert f"AgentRun {run['metadata']['name']} created by trigger scale-out" in printed
    assert f"MTTR {status['outcome']['timeToRecoverSeconds']} s" in printed


def test_scene_3_promotes_the_good_version_and_rolls_back_and_reverts_the_bad_one(story, api_client):
    report = story["reports"][3]
    assert report.played and report.ok, (report.reason, story["stage"].progress.messages(3))
    rollout = custom(api_client, story["namespace"], "rollouts", "storefront")
    status = rollout["status"]
    assert status["phase"] == "RolledBack"
    assert "analysis canary-errors failed" in status["rollback"]["reason"]
    env = {e["name"]: e["value"] for e in rollout["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"NAKSHA_DEMO_VERSION": "v2", "NAKSHA_DEMO_ERROR_RATE": "0.0"}  # the spec is reverted
    assert status["stableRevision"] == report.result.promoted_revision == status["rollback"]["stableRevision"]
    bare = story["stage"].state_dir / f"gitops-{story['namespace']}.git"
    tip = subprocess.run(["git", "rev-parse", "main"], cwd=bare, capture_output=True, text=True).stdout
    tip = tip.strip()
    assert status["rollback"]["gitops"]["commit"] == tip == report.result.revert_commit
    assert f"Revert Rollout {story['namespace']}/storefront" in report.result.git_log
    assert "apps/storefront/rollout.yaml" in report.result.git_log  # --stat names the file


def test_scene_2_trains_evaluates_and_promotes_a_ranker_whose_choice_the_next_run_takes(story, api_client):
    report = story["reports"][2]
    assert report.played and report.ok, (report.reason, story["stage"].progress.messages(2))
    namespace = story["namespace"]
    version = custom(api_client, namespace, "modelversions", "playbook-ranker-v1")["status"]
    assert version["phase"] == "Promoted" and version["verdict"]["result"] == "Passed"
    # Trained on the generated history and on what the earlier scenes' runs left in the archive.
    assert report.result.archived_generated == 600 and report.result.archived_real >= 1
    assert version["lineage"]["samples"] == report.result.archived_real + 600
    config_map = client.CoreV1Api(api_client).read_namespaced_config_map(
        version["artifact"]["configMap"], namespace
    )
    data = base64.b64decode(config_map.binary_data[version["artifact"]["key"]])
    assert hashlib.sha256(data).hexdigest() == version["artifact"]["sha256"] == report.result.sha256
    aliases = client.CoreV1Api(api_client).read_namespaced_config_map(
        "playbook-ranker-model-aliases", namespace
    )
    assert parse_entry(aliases.data["production"]).holder.version == "playbook-ranker-v1"
    run = custom(api_client, namespace, "agentruns", "checkout-latency-by-model")
    assert run["spec"]["playbookRef"]["model"] == "playbook-ranker"
    choice = run["status"]["state"]["playbookChoice"]
    assert choice["modelVersion"] == "playbook-ranker-v1" and choice["playbook"] == "scale-out-on-latency"
    assert choice["context"] == "p99-latency|Deployment" and choice["sha256"] == version["artifact"]["sha256"]
    printed = "\n".join(story["stage"].progress.messages(2))
    assert "ModelVersion playbook-ranker-v1 Promoted to production" in printed
    assert f"playbook-ranker-v1 chose scale-out-on-latency for context {choice['context']}" in printed


def test_scene_5_registers_an_edge_agent_that_runs_a_signed_allow_listed_command(story, api_client):
    report = story["reports"][5]
    assert report.played and report.ok, (report.reason, story["stage"].progress.messages(5))
    namespace = story["namespace"]
    node = custom(api_client, namespace, "edgenodes", "shop-17")["status"]
    assert node["phase"] == "Ready" and node["keyThumbprint"] == report.result.key_thumbprint
    assert "run-command" in node["capabilities"]
    run = custom(api_client, namespace, "agentruns", "shop-17-disk-usage")["status"]
    assert run["phase"] == "Succeeded" and run["state"]["edgeOutcome"] == "Succeeded"
    assert run["state"]["edgeExitCode"] == 0 and "Filesystem" in run["state"]["edgeOutput"]
    request = client.CoreV1Api(api_client).read_namespaced_config_map(
        report.result.trigger_request, namespace
    )
    assert (
        request.data["jti"] == report.result.trigger_jti
        and json.loads(request.data["result"])["exitCode"] == 0
    )
    printed = "\n".join(story["stage"].progress.messages(5))
    assert f"EdgeNode shop-17 registered at {node['registeredTime']}" in printed
    assert "signature checked here: valid EdDSA" in printed


def test_scene_4_scales_checkout_to_zero_and_the_verdict_names_the_agent_run_that_brought_it_back(
    story, api_client
):
    report = story["reports"][4]
    assert report.played and report.ok, (report.reason, story["stage"].progress.messages(4))
    namespace = story["namespace"]
    status = custom(api_client, namespace, "chaosexperiments", "checkout-outage")["status"]
    (run,) = status["history"]
    assert run["verdict"] == "Passed" and run["targets"] == ["checkout"] == report.result.targets
    # The remediation is the loop's: the run the outage's detector triggered, which scaled checkout
    # from zero back to five, and ended Succeeded.
    (agent_run,) = [r for r in custom(api_client, namespace, "agentruns") if triggered(r, "restore-capacity")]
    name = agent_run["metadata"]["name"]
    assert run["agentRun"] == name == report.result.agent_run and run["agentRunPhase"] == "Succeeded"
    assert agent_run["spec"]["signal"]["detector"] == "checkout-errors"
    assert agent_run["spec"]["playbookRef"]["name"] == "scale-out-on-latency"
    (action,) = agent_run["status"]["actions"].values()
    assert (action["result"]["previous"], action["result"]["replicas"]) == (0, 5)
    assert f"remediated by AgentRun {name}" in run["reason"]
    assert 0 <= run["timeToDetectSeconds"] <= run["timeToRecoverSeconds"] < 60
    assert report.result.time_to_detect_seconds == run["timeToDetectSeconds"]
    assert report.result.time_to_recover_seconds == run["timeToRecoverSeconds"]
    # The fault's restore found the replicas already back (it writes only while they are 0).
    assert run["restore"] == [
        {
            "kind": "Deployment",
            "name": "checkout",
            "field": "replicas",
            "value": 5,
            "injectedValue": 0,
            "params": {},
        }
    ]
    deployment = client.AppsV1Api(api_client).read_namespaced_deployment("checkout", namespace)
    assert (
        deployment.spec.replicas == 5 and report.result.replicas_before == 5 == report.result.replicas_after
    )
    activities = [entry["activity"] for entry in report.result.journal]
    assert activities[:3] == ["run-started", "steady-state-before", "inject"] and activities[-1] == "verdict"
    assert "remediation" in activities and "recover" in activities
    (restore,) = [entry for entry in report.result.journal if entry["activity"] == "restore"]
    assert "no longer holds the fault's replicas; left as it is" in restore["message"]
    printed = "\n".join(story["stage"].progress.messages(4))
    assert f"AgentRun {name} scaled Deployment checkout: 0 → 5 replicas" in printed
    assert f"verdict Passed: recovered in {run['timeToRecoverSeconds']:.1f}s" in printed
    assert f"time to detect {run['timeToDetectSeconds']:.1f}s" in printed
    for entry in report.result.journal:  # the journal, printed line by line
        assert f"{entry['at']} {entry['activity']}" in printed


def test_the_reports_written_after_the_story_carry_its_numbers(story, api_client, tmp_path):
    from naksha.report import write_reports

    written = write_reports(Kube(api_client), tmp_path, junit=[])
    assert [p.name for p in written] == [
        "D.1_insight_stream.md",
        "D.2_agent_framework.md",
        "D.3_cll_trainer.md",
        "D.4_federation.md",
        "D.5_chaos.md",
        "D.6_deploy_pipeline.md",
    ]
    (run,) = [r for r in custom(api_client, story["namespace"], "agentruns") if triggered(r, "scale-out")]
    d2 = (tmp_path / "D.2_agent_framework.md").read_text()
    assert str(run["status"]["outcome"]["timeToRecoverSeconds"]) in d2
    d6 = (tmp_path / "D.6_deploy_pipeline.md").read_text()
    rollback = custom(api_client, story["namespace"], "rollouts", "storefront")["status"]["rollback"]
    assert rollback["gitops"]["commit"] in d6 and rollback["badRevision"] in d6
    d1 = (tmp_path / "D.1_insight_stream.md").read_text()
    assert '"status": "ok"' in d1 and "naksha_insight_ingested_total" in d1  # read from the live worker
    version = custom(api_client, story["namespace"], "modelversions", "playbook-ranker-v1")["status"]
    d3 = (tmp_path / "D.3_cll_trainer.md").read_text()
    sha = version["artifact"]["sha256"]
    assert f"| {sha} | {sha} | yes |" in d3  # the checksum recomputed from the artifact's bytes agrees
    assert f"| {story['namespace']}/checkout-latency-by-model | playbook-ranker@production |" in d3
    node = custom(api_client, story["namespace"], "edgenodes", "shop-17")["status"]
    d4 = (tmp_path / "D.4_federation.md").read_text()
    assert node["keyThumbprint"] in d4 and story["reports"][5].result.trigger_jti in d4
    assert "## Security notes (from docs/federation.md)" in d4
    d5 = (tmp_path / "D.5_chaos.md").read_text()
    chaos_run = story["reports"][4].result
    assert f"| {story['namespace']}/checkout-outage | run-1 | command | checkout | Passed |" in d5
    assert f"| {chaos_run.agent_run} | {chaos_run.time_to_detect_seconds:.1f} s |" in d5
    for picture in ("D.1_anomalies.png", "D.2_agentrun_timeline.png", "D.6_rollouts.png"):
        assert (tmp_path / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
