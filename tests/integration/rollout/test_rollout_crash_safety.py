"""An operator killed anywhere in a rollback finishes it after a restart, with one revert commit.

The operator runs as ``naksha operator`` in its own process group and is SIGKILLed with every
child (git included), then restarted at once with the same TMPDIR (where its GitOps cache lives),
as a container restarted in its pod is. The GitOps repository is served by ``git daemon``, apart
from the killed processes, as a real remote is.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from tests.support import eventually, git, push_all
from tests.support.gitserver import git_daemon
from tests.support.operators import kill_group, start_operator
from tests.support.rollouts import STEPS, Cluster, gitops_repo, rollout, shop_stream, template


def revert_commits(repo: Path, namespace: str, revision: str) -> list[str]:
    marker = f"Naksha-Revert: {namespace}/shop@{revision}"
    return git("log", "--format=%H", "--fixed-strings", f"--grep={marker}", "main", cwd=repo).split()


def assert_repository_intact(repo: Path) -> None:
    assert git("fsck", "--strict", "--no-dangling", cwd=repo) == ""
    assert git("rev-list", "--merges", "main", cwd=repo) == ""  # linear history


def push_image(repo: Path, tmp_path: Path, image: str) -> None:
    """A developer pushes a new version of the Rollout's manifest (GitOps then applies it)."""
    clone = tmp_path / f"dev-{image.replace(':', '-')}"
    git("clone", "--quiet", str(repo), str(clone), cwd=tmp_path)
    manifest = yaml.safe_load((clone / "shop.yaml").read_text())
    manifest["spec"]["template"] = template(image)
    (clone / "shop.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    push_all(clone, image)


def wait_for_git(group: int, timeout: float) -> bool:
    """True as soon as a git process runs in the operator's process group; False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue  # gone meanwhile
            name, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
            if int(fields[2]) == group and name.startswith("git"):
                return True
        time.sleep(0.005)
    return False


def gitops_of(status: dict[str, Any]) -> dict[str, Any]:
    return dict((status.get("rollback") or {}).get("gitops") or {})


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
        control_plane.kubeconfig_path, fresh_namespace, log, NAKSHA_CRASH_POINT="rollout.before-gitops"
    )
    try:
        cluster.create(rollout("shop", "shop:1", STEPS, gitops={"repo": str(repo), "path": "shop.yaml"}))
        cluster.wait_phase("shop", "Healthy", timeout=180)
        cluster.detector(1)
        cluster.set_image("shop", "shop:2")
        assert first.wait(timeout=180) == -signal.SIGKILL  # at its crash point
    finally:
        kill_group(first)
    # The rollback was recorded and the spec reverted before the operator died.
    assert cluster.rollout("shop")["spec"]["template"] == template("shop:1")
    assert (cluster.status("shop").get("rollback") or {}).get("badRevision")
    assert git("rev-parse", "main", cwd=repo) == seeded  # nothing committed yet

    second = start_operator(control_plane.kubeconfig_path, fresh_namespace, log)
    try:
        commit = eventually(lambda: gitops_of(cluster.status("shop")).get("commit"), timeout=60)
        cluster.wait_phase("shop", "RolledBack")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert git("rev-list", "--count", "main", cwd=repo) == "2"  # the seed and one revert
    assert git("rev-parse", "main", cwd=repo) == commit
    assert gitops_of(cluster.status("shop"))["created"] is True
    assert (
        client.AppsV1Api(api_client).read_namespaced_deployment("shop-canary", fresh_namespace).spec.replicas
        == 0
    )


def test_a_revert_pushed_just_before_a_kill_is_recorded_as_this_rollbacks_after_a_restart(
    control_plane, api_client, naksha_crds, fresh_namespace, tmp_path: Path
):
    cluster = Cluster(api_client, fresh_namespace)
    cluster.create(shop_stream(18413))
    cluster.detector(0)
    repo = gitops_repo(tmp_path, fresh_namespace, image="shop:2")
    log = tmp_path / "operator.log"
    environment = {"TMPDIR": str(tmp_path)}
    first = start_operator(
        control_plane.kubeconfig_path,
        fresh_namespace,
        log,
        NAKSHA_CRASH_POINT="rollout.after-gitops-push",
        **environment,
    )
    try:
        cluster.create(rollout("shop", "shop:1", STEPS, gitops={"repo": str(repo), "path": "shop.yaml"}))
        cluster.wait_phase("shop", "Healthy")
        cluster.detector(1)
        cluster.set_image("shop", "shop:2")
        assert first.wait(timeout=120) == -signal.SIGKILL  # at its crash point
    finally:
        kill_group(first)
    # The server accepted the revert; the operator died before its status recorded it.
    assert git("rev-list", "--count", "main", cwd=repo) == "2"
    pushed = git("rev-parse", "main", cwd=repo)
    assert not gitops_of(cluster.status("shop")).get("commit")

    second = start_operator(control_plane.kubeconfig_path, fresh_namespace, log, **environment)
    try:
        recorded = eventually(
            lambda: gitops_of(cluster.status("shop")).get("commit") and cluster.status("shop")
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert gitops_of(recorded) | {"seconds": 0} == {
        "commit": pushed,
        "created": True,
        "alreadyPushed": True,
        "seconds": 0,
    }
    assert git("rev-list", "--count", "main", cwd=repo) == "2"  # no second revert


def test_an_operator_killed_at_random_points_of_several_rollbacks_makes_one_revert_each(
    control_plane, api_client, naksha_crds, fresh_namespace, tmp_path: Path
):
    seed = int(os.environ.get("NAKSHA_TEST_SEED") or random.randrange(1 << 30))
    print(f"seed {seed} (NAKSHA_TEST_SEED={seed} repeats it)")
    rng = random.Random(seed)
    cluster = Cluster(api_client, fresh_namespace)
    cluster.create(shop_stream(18414))
    cluster.detector(0)
    repo = gitops_repo(tmp_path, fresh_namespace, image="shop:2")
    log = tmp_path / "operator.log"
    environment = {"TMPDIR": str(tmp_path)}
    kubeconfig = control_plane.kubeconfig_path
    operator = start_operator(kubeconfig, fresh_namespace, log, **environment)
    rollbacks: dict[str, str] = {}  # bad revision -> its revert commit, as the status recorded it
    kills = in_git = 0
    try:
        with git_daemon(tmp_path) as server:
            gitops = {"repo": f"{server}/{repo.name}", "path": "shop.yaml"}
            cluster.create(rollout("shop", "shop:1", STEPS, gitops=gitops))
            stable = cluster.wait_phase("shop", "Healthy")["stableRevision"]
            cluster.detector(1)  # every new version fails its analysis
            for number in (2, 3, 4):
                if number > 2:
                    push_image(repo, tmp_path, f"shop:{number}")
                cluster.set_image("shop", f"shop:{number}")  # as the GitOps sync applies it

                def restart() -> None:
                    nonlocal operator, kills
                    kill_group(operator)
                    kills += 1
                    operator = start_operator(kubeconfig, fresh_namespace, log, **environment)

                if rng.random() < 0.5:  # somewhere in the rollout or its rollback
                    time.sleep(rng.uniform(0.0, 3.0))
                    restart()
                for _kill in range(2):  # at a random moment while one of its git commands runs
                    if not wait_for_git(operator.pid, timeout=20):
                        break  # the revert is done: no git comes any more
                    time.sleep(rng.uniform(0.0, 0.04))
                    restart()
                    in_git += 1
                if rng.random() < 0.5:  # somewhere after the rollback was recorded
                    eventually(
                        lambda: (
                            (cluster.status("shop").get("rollback") or {}).get("badRevision")
                            not in (None, *rollbacks)
                        ),
                        timeout=60,
                    )
                    time.sleep(rng.uniform(0.0, 0.6))
                    restart()

                def finished() -> dict[str, Any] | None:
                    status = cluster.status("shop")
                    rollback = status.get("rollback") or {}
                    done = rollback.get("badRevision") not in (None, *rollbacks) and gitops_of(status)
                    return status if done and gitops_of(status).get("commit") else None

                status = eventually(finished, timeout=90)
                bad = status["rollback"]["badRevision"]
                rollbacks[bad] = gitops_of(status)["commit"]
                assert gitops_of(status)["created"] is True, f"seed {seed}: {gitops_of(status)}"
                assert revert_commits(repo, fresh_namespace, bad) == [rollbacks[bad]], f"seed {seed}"
                assert status["stableRevision"] == stable
                reasons = [c.get("reason") for c in status.get("conditions", [])]
                assert "GitOpsRevertFailed" not in reasons, f"seed {seed}: {status['conditions']}"
                assert cluster.rollout("shop")["spec"]["template"] == template("shop:1")
    finally:
        operator.send_signal(signal.SIGTERM)
        operator.wait(timeout=30)
    recovered = log.read_text().count("cleared what an interrupted git left")
    print(
        f"{kills} kills ({in_git} during a git command), {recovered} caches recovered; rollbacks {rollbacks}"
    )
    assert len(rollbacks) == 3
    assert in_git >= 2, f"seed {seed}: only {in_git} kills landed in a git command"
    assert_repository_intact(repo)
    assert git("rev-list", "--count", "main", cwd=repo) == "6"  # seed + 3 reverts + 2 later bad pushes
    assert yaml.safe_load(git("show", "main:shop.yaml", cwd=repo))["spec"]["template"] == template("shop:1")
