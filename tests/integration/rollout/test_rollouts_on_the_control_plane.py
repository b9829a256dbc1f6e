"""Rollouts on the local control plane: canary steps and analysis, promotion, and rollback in the
cluster and in a real GitOps repository.

The analysis reads an InsightStream detector's live state, which each test sets itself: a good
version keeps the detector quiet, a bad one makes it fire.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml
from kubernetes import client
from tests.support import ROOT, eventually, git
from tests.support.rollouts import (
    STEPS,
    Cluster,
    gitops_repo,
    rollout,
    shop_stream,
    template,
)

GROUP, VERSION = "naksha.io", "v1alpha1"


@pytest.fixture
def cluster(naksha_operator, api_client, fresh_namespace) -> Cluster:
    cluster = Cluster(api_client, fresh_namespace)
    cluster.create(shop_stream(18411))
    cluster.detector(0)
    return cluster


def test_a_good_version_walks_the_steps_and_becomes_stable(cluster):
    cluster.create(rollout("shop", "shop:1", STEPS))
    first = cluster.wait_phase("shop", "Healthy")
    assert (
        cluster.image_of("shop-stable") == "shop:1" and cluster.deployment("shop-stable").spec.replicas == 4
    )

    cluster.set_image("shop", "shop:2")
    eventually(
        lambda: (
            cluster.status("shop").get("canaryWeight") == 25
            and cluster.deployment("shop-canary").spec.replicas == 1
        )
    )
    assert cluster.deployment("shop-stable").spec.replicas == 3
    status = eventually(
        lambda: (
            (s := cluster.status("shop")).get("phase") == "Healthy"
            and s["stableRevision"] != first["stableRevision"]
            and s
        ),
        timeout=60,
    )
    assert (
        cluster.image_of("shop-stable") == "shop:2" and cluster.deployment("shop-stable").spec.replicas == 4
    )
    assert cluster.deployment("shop-canary").spec.replicas == 0
    core = client.CoreV1Api(cluster.custom.api_client)

    def images() -> list[str]:
        pods = core.list_namespaced_pod(cluster.namespace, label_selector="app=shop").items
        return sorted(p.spec.containers[0].image for p in pods if not p.metadata.deletion_timestamp)

    eventually(lambda: images() == ["shop:2"] * 4, timeout=30)  # the old revision's pods are gone
    measurements = status["analysis"] if status.get("analysis") else {}
    assert measurements == {}  # analysis records are cleared once the revision is stable
    assert [r["revision"] for r in status["revisions"]] == [first["stableRevision"], status["stableRevision"]]


def test_a_failing_analysis_rolls_back_in_the_cluster_and_in_the_gitops_repository(cluster, tmp_path):
    repo = gitops_repo(tmp_path, cluster.namespace, image="shop:2")
    cluster.create(
        rollout("shop", "shop:1", STEPS, gitops={"repo": str(repo), "branch": "main", "path": "shop.yaml"})
    )
    stable = cluster.wait_phase("shop", "Healthy")["stableRevision"]
    cluster.detector(1)  # the new version makes the error detector fire
    cluster.set_image("shop", "shop:2")

    status = cluster.wait_phase("shop", "RolledBack")
    assert status["rollback"]["badRevision"] != stable and status["rollback"]["stableRevision"] == stable
    assert "analysis errors failed" in status["rollback"]["reason"]
    rolled_back = next(c for c in status["conditions"] if c["type"] == "RolledBack")
    assert rolled_back["status"] == "True" and rolled_back["reason"] == "AnalysisFailed"
    assert cluster.rollout("shop")["spec"]["template"] == template("shop:1")  # the spec is reverted
    assert (
        cluster.image_of("shop-stable") == "shop:1" and cluster.deployment("shop-stable").spec.replicas == 4
    )
    assert cluster.deployment("shop-canary").spec.replicas == 0

    commit = eventually(lambda: cluster.status("shop")["rollback"]["gitops"]["commit"])
    assert git("rev-parse", "main", cwd=repo) == commit
    manifest = yaml.safe_load(git("show", "main:shop.yaml", cwd=repo))
    assert manifest["spec"]["template"] == template("shop:1")
    message = git("log", "-1", "--format=%B", "main", cwd=repo)
    assert f"Revert Rollout {cluster.namespace}/shop to revision {stable}" in message
    assert status["rollback"]["badRevision"] in message and "analysis errors failed" in message


def test_an_unreachable_repository_is_reported_and_the_cluster_still_rolls_back(cluster, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="naksha.controllers.rollout")
    missing = tmp_path / "nowhere.git"
    cluster.create(rollout("shop", "shop:1", STEPS, gitops={"repo": str(missing), "path": "shop.yaml"}))
    cluster.wait_phase("shop", "Healthy")
    cluster.detector(1)
    cluster.set_image("shop", "shop:2")
    cluster.wait_phase("shop", "RolledBack")
    assert (
        cluster.image_of("shop-stable") == "shop:1" and cluster.deployment("shop-canary").spec.replicas == 0
    )
    degraded = eventually(
        lambda: next(c for c in cluster.status("shop")["conditions"] if c["type"] == "Degraded")
    )
    assert degraded["reason"] == "GitOpsRevertFailed" and "git fetch failed" in degraded["message"]
    # The operator's log says which command failed and what git said, and that the revert failed.
    logged = [
        (r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("naksha.controllers.rollout")
    ]
    assert any(
        level == logging.WARNING and f"git fetch --quiet --no-tags {missing}" in text and "fatal:" in text
        for level, text in logged
    ), logged
    assert any(level == logging.ERROR and "GitOps revert of Rollout" in text for level, text in logged), (
        logged
    )


def test_an_indefinite_pause_waits_for_promote(cluster):
    cluster.create(rollout("shop", "shop:1", [{"setWeight": 50}, {"pause": {}}]))
    cluster.wait_phase("shop", "Healthy")
    cluster.set_image("shop", "shop:2")
    paused = cluster.wait_phase("shop", "Paused")
    assert paused["canaryWeight"] == 50 and cluster.deployment("shop-canary").spec.replicas == 2
    naksha("rollout", "promote", "shop", "-n", cluster.namespace)
    cluster.wait_phase("shop", "Healthy")
    assert cluster.image_of("shop-stable") == "shop:2"
    assert "naksha.io/promote" not in (cluster.rollout("shop")["metadata"].get("annotations") or {})


def test_a_user_abort_rolls_back_and_the_same_spec_is_not_tried_again_until_retry(cluster):
    cluster.create(rollout("shop", "shop:1", [{"setWeight": 50}, {"pause": {}}]))
    cluster.wait_phase("shop", "Healthy")
    cluster.set_image("shop", "shop:2")
    cluster.wait_phase("shop", "Paused")
    naksha("rollout", "abort", "shop", "-n", cluster.namespace, "--reason", "checkout errors seen by support")
    status = cluster.wait_phase("shop", "RolledBack")
    assert status["rollback"]["reason"] == "checkout errors seen by support"
    assert cluster.image_of("shop-stable") == "shop:1"
    shown = naksha("rollout", "status", "shop", "-n", cluster.namespace)
    assert "Phase     RolledBack" in shown and "checkout errors seen by support" in shown

    cluster.set_image("shop", "shop:2")  # re-applied as it was, e.g. by a GitOps sync
    degraded = cluster.wait_phase("shop", "Degraded")
    assert (
        "was rolled back before" in degraded["message"]
        and cluster.deployment("shop-canary").spec.replicas == 0
    )
    naksha("rollout", "retry", "shop", "-n", cluster.namespace)
    cluster.wait_phase("shop", "Paused")
    assert cluster.deployment("shop-canary").spec.replicas == 2


def test_a_newer_template_mid_rollout_replaces_the_canary(cluster):
    # The promote may reach the operator while shop:3's canary pods still come up (the status
    # read below can still be shop:2's Paused): it is kept until the pause it ends.
    cluster.create(rollout("shop", "shop:1", [{"setWeight": 25}, {"pause": {}}]))
    cluster.wait_phase("shop", "Healthy")
    cluster.set_image("shop", "shop:2")
    cluster.wait_phase("shop", "Paused")
    cluster.set_image("shop", "shop:3")
    eventually(
        lambda: cluster.image_of("shop-canary") == "shop:3" and cluster.status("shop")["phase"] == "Paused"
    )
    cluster.annotate("shop", "naksha.io/promote")
    cluster.wait_phase("shop", "Healthy")
    assert cluster.image_of("shop-stable") == "shop:3"


def test_canary_pods_that_never_come_up_hit_the_progress_deadline(cluster):
    cluster.create(rollout("shop", "shop:1", [{"setWeight": 50}], progressDeadlineSeconds=3))
    cluster.wait_phase("shop", "Healthy")
    # A naksha image runs as a real process here: one that exits at once, behind a probe nothing answers.
    never_ready = {"httpGet": {"path": "/healthz", "port": 1}, "periodSeconds": 1}
    broken = template("ghcr.io/naksha-io/naksha:test", args=["no-such-command"], readinessProbe=never_ready)
    cluster.patch("shop", {"spec": {"template": broken}})
    status = cluster.wait_phase("shop", "RolledBack", timeout=60)
    assert "not available within 3s" in status["rollback"]["reason"]
    assert (
        next(c for c in status["conditions"] if c["type"] == "RolledBack")["reason"]
        == "ProgressDeadlineExceeded"
    )


def test_deleting_a_rollout_mid_rollout_removes_its_deployments(cluster, api_client):
    cluster.create(rollout("shop", "shop:1", [{"setWeight": 25}, {"pause": {}}]))
    cluster.wait_phase("shop", "Healthy")
    cluster.set_image("shop", "shop:2")
    cluster.wait_phase("shop", "Paused")
    cluster.custom.delete_namespaced_custom_object(GROUP, VERSION, cluster.namespace, "rollouts", "shop")

    def names() -> set[str]:
        return {d.metadata.name for d in cluster.apps.list_namespaced_deployment(cluster.namespace).items}

    eventually(lambda: not {"shop-stable", "shop-canary"} & names(), timeout=30)


def naksha(*args: str) -> str:
    """The real CLI, against the local control plane (KUBECONFIG points at it)."""
    result = subprocess.run(
        [sys.executable, "-m", "naksha", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT / "operator")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_http_analysis_of_the_demo_app_rolls_back_a_version_that_fails_too_often(cluster):
    from tests.support.demo_app import demo_app

    with demo_app(NAKSHA_DEMO_VERSION="v2", NAKSHA_DEMO_ERROR_RATE="0.5") as url:
        probe = {
            "name": "http-errors",
            "provider": {"http": {"url": url}},
            "successCondition": "result == 200",
            "interval": "1s",
            "count": 4,
            "failureLimit": 1,
        }
        cluster.create(rollout("shop", "shop:1", [{"setWeight": 25}, {"analysis": {"metrics": [probe]}}]))
        cluster.wait_phase("shop", "Healthy")
        cluster.set_image("shop", "shop:2")
        status = cluster.wait_phase("shop", "RolledBack")
    assert "analysis http-errors failed: 2 failed" in status["rollback"]["reason"]


def test_an_invalid_rollout_is_reported_with_the_reason_and_runs_nothing(cluster):
    bad = rollout("shop", "shop:1", [{"setWeight": 25, "pause": {}}])
    cluster.create(bad)
    status = cluster.wait_phase("shop", "Invalid")
    invalid = next(c for c in status["conditions"] if c["type"] == "InvalidSpec")
    assert "exactly one of setWeight, pause, analysis" in invalid["message"]
    assert "shop-stable" not in {
        d.metadata.name for d in cluster.apps.list_namespaced_deployment(cluster.namespace).items
    }


def test_spec_paused_holds_a_new_revision_until_it_is_unset(cluster):
    cluster.create(rollout("shop", "shop:1", [{"setWeight": 50}]))
    cluster.wait_phase("shop", "Healthy")
    cluster.patch("shop", {"spec": {"paused": True, "template": template("shop:2")}})
    held = cluster.wait_phase("shop", "Paused")
    assert held["message"] == "paused by spec.paused" and cluster.deployment("shop-canary").spec.replicas == 0
    cluster.patch("shop", {"spec": {"paused": False}})
    cluster.wait_phase("shop", "Healthy")
    assert cluster.image_of("shop-stable") == "shop:2"


def job_metric(args: list[str]) -> dict[str, Any]:
    """An analysis Job: a naksha container (a real process on the local kubelet) whose exit decides."""
    container = {"name": "check", "image": "ghcr.io/naksha-io/naksha:test", "args": args}
    return {
        "name": "smoke",
        "provider": {
            "job": {"template": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}}
        },
        "interval": "1s",
    }


def test_an_analysis_job_that_succeeds_lets_the_rollout_through_and_one_that_fails_rolls_it_back(cluster):
    passing = rollout(
        "shop", "shop:1", [{"setWeight": 25}, {"analysis": {"metrics": [job_metric(["wpk", "list"])]}}]
    )
    cluster.create(passing)
    cluster.wait_phase("shop", "Healthy")
    cluster.set_image("shop", "shop:2")
    eventually(
        lambda: (
            cluster.status("shop")["stableRevision"] == cluster.status("shop")["currentRevision"]
            and cluster.image_of("shop-stable") == "shop:2"
        ),
        timeout=60,
    )

    failing = job_metric(["no-such-command"])
    cluster.patch(
        "shop",
        {
            "spec": {
                "strategy": {"canary": {"steps": [{"setWeight": 25}, {"analysis": {"metrics": [failing]}}]}},
                "template": template("shop:3"),
            }
        },
    )
    status = cluster.wait_phase("shop", "RolledBack", timeout=60)
    assert "analysis smoke failed" in status["rollback"]["reason"]
    assert cluster.image_of("shop-stable") == "shop:2"


def test_a_prometheus_analysis_reads_the_query_and_judges_it(cluster):
    from tests.support.engine import PrometheusStandIn

    prometheus = PrometheusStandIn([0.002, 0.004, 0.2])  # fine twice, then the error ratio jumps
    metric = {
        "name": "error-ratio",
        "provider": {
            "prometheus": {"address": prometheus.url, "query": 'sum(rate(errors_total{app="shop"}[1m]))'}
        },
        "successCondition": "result < 0.01",
        "interval": "1s",
        "count": 5,
    }
    try:
        cluster.create(rollout("shop", "shop:1", [{"setWeight": 25}, {"analysis": {"metrics": [metric]}}]))
        cluster.wait_phase("shop", "Healthy")
        cluster.set_image("shop", "shop:2")
        status = cluster.wait_phase("shop", "RolledBack")
    finally:
        prometheus.server.shutdown()
    reason = status["rollback"]["reason"]
    assert "analysis error-ratio failed: 1 failed, 0 inconclusive of 3" in reason and "result 0.2" in reason
    assert prometheus.queries[0] == 'sum(rate(errors_total{app="shop"}[1m]))'
