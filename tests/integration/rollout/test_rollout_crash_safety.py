"""An operator killed between reverting a Rollout's spec and committing to Git leaves one revert commit."""

from __future__ import annotations

import signal
from pathlib import Path

from kubernetes import client
from tests.integration.agent.test_agentrun_crash_safety import start_operator
from tests.integration.rollout.test_rollouts_on_the_control_plane import (
    STEPS,
    Cluster,
    gitops_repo,
    rollout,
    shop_stream,
    template,
)
from tests.support import eventually, git


def test_a_rollback_cut_short_after_the_spec_revert_makes_exactly_one_commit_after_a_restart(
    control_plane, api_client, naksha_crds, fresh_namespace, tmp_path: Path
):
    cluster = Cluster(api_client, fresh_namespace)
    cluster.create(shop_stream(18412))
    cluster.detector(0)
    repo = gitops_repo(tmp_path, fresh_namespace, image="shop:2")
    seeded = git("rev-parse", "main", cwd=repo)
    log = tmp_path / "operator.log"
    first = start_operator(
        control_plane.kubeconfig_path, fresh_namespace, log, NAKSHA_ROLLOUT_TEST_PAUSE_BEFORE_GITOPS="60"
    )
    try:
        cluster.create(rollout("shop", "shop:1", STEPS, gitops={"repo": str(repo), "path": "shop.yaml"}))
        cluster.wait_phase("shop", "Healthy")
        cluster.detector(1)
        cluster.set_image("shop", "shop:2")
        # The rollback is recorded and the spec reverted; the operator now holds before committing.
        eventually(lambda: cluster.rollout("shop")["spec"]["template"] == template("shop:1"), timeout=60)
        eventually(lambda: (cluster.status("shop").get("rollback") or {}).get("badRevision"))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert git("rev-parse", "main", cwd=repo) == seeded  # nothing committed yet

    second = start_operator(control_plane.kubeconfig_path, fresh_namespace, log)
    try:
        commit = eventually(
            lambda: (cluster.status("shop")["rollback"].get("gitops") or {}).get("commit"), timeout=60
        )
        cluster.wait_phase("shop", "RolledBack")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert git("rev-list", "--count", "main", cwd=repo) == "2"  # the seed and one revert
    assert git("rev-parse", "main", cwd=repo) == commit
    assert (
        client.AppsV1Api(api_client).read_namespaced_deployment("shop-canary", fresh_namespace).spec.replicas
        == 0
    )
