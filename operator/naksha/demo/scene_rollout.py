"""Scene 3, roll out safely: a Rollout from a local GitOps repository, a good version and a bad one.

The repository is a bare git repository seeded from ``examples/gitops/``; the demo plays the
GitOps agent (commit, push, ``kubectl apply`` from the repository). The good version (v2)
passes the canary analysis and is promoted. The bad one (v3, half of its requests fail) makes the
``canary-errors`` detector fire from the traffic's telemetry, the analysis fails, the operator
rolls back, reverts the Rollout's spec and pushes a revert commit, which the scene shows with
``git log -1 --stat``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from naksha.demo.stage import Stage
from naksha.demo.telemetry import ERRORS_DETECTOR, ensure_stream, topic_for
from naksha.demo.traffic import Traffic
from naksha.errors import ConfigError
from naksha.models.labels import ROLE_LABEL
from naksha.models.resources import PODS, ROLLOUTS

NAME = "storefront"
MANIFEST = "apps/storefront/rollout.yaml"
CANARY_RATE = 10.0


@dataclass(frozen=True)
class RolloutOutcome:
    promoted_revision: str
    promoted_version: str
    rolled_back_revision: str
    rollback_reason: str
    phase: str
    spec_version: str  # NAKSHA_DEMO_VERSION in the Rollout's spec after the rollback
    revert_commit: str
    repo_tip: str
    repo_version: str  # NAKSHA_DEMO_VERSION in the repository's manifest after the rollback
    git_log: str

    @property
    def ok(self) -> bool:
        """The good version promoted; the bad one rolled back in the cluster and in git."""
        return (
            self.phase == "RolledBack"
            and self.spec_version == self.promoted_version
            and self.repo_version == self.promoted_version
            and self.revert_commit == self.repo_tip
        )


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise ConfigError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


class GitOpsRepo:
    """The bare repository the operator pushes to, and the working clone the demo commits from."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.bare = stage.state_dir / f"gitops-{stage.namespace}.git"
        self.work = stage.state_dir / f"gitops-{stage.namespace}-work"

    def seed(self) -> None:
        for path in (self.bare, self.work):
            shutil.rmtree(path, ignore_errors=True)
        git("init", "--quiet", "--bare", "--initial-branch=main", str(self.bare), cwd=self.stage.state_dir)
        git("clone", "--quiet", str(self.bare), str(self.work), cwd=self.stage.state_dir)
        for name in ("user.name", "user.email"):
            git("config", name, "naksha demo" if name == "user.name" else "demo@localhost", cwd=self.work)
        shutil.copytree(self.stage.examples, self.work, dirs_exist_ok=True)
        manifest = self.manifest()
        manifest["spec"]["gitops"]["repo"] = f"file://{self.bare}"
        manifest["spec"]["template"]["spec"]["containers"][0]["image"] = self.stage.image
        self.write(manifest)
        self.commit("Seed from examples/gitops: storefront v1")

    def manifest(self) -> dict[str, Any]:
        return dict(yaml.safe_load((self.work / MANIFEST).read_text()))

    def write(self, manifest: dict[str, Any]) -> None:
        (self.work / MANIFEST).write_text(yaml.safe_dump(manifest, sort_keys=False))

    def commit(self, message: str) -> str:
        git("add", "-A", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", "main", cwd=self.work)
        return git("rev-parse", "--short", "HEAD", cwd=self.work).strip()

    def release(self, version: str, error_rate: float) -> str:
        """Commit a new version of the demo app and push it, as a team would."""
        git("pull", "--quiet", "--rebase", "origin", "main", cwd=self.work)
        manifest = self.manifest()
        env = manifest["spec"]["template"]["spec"]["containers"][0]["env"]
        values = {"NAKSHA_DEMO_VERSION": version, "NAKSHA_DEMO_ERROR_RATE": str(error_rate)}
        for entry in env:
            entry["value"] = values.get(entry["name"], entry["value"])
        self.write(manifest)
        return self.commit(f"storefront {version} (error rate {error_rate:.0%})")

    def sync(self) -> None:
        """What a GitOps agent does: the repository's manifest, applied to the cluster."""
        git("pull", "--quiet", "--rebase", "origin", "main", cwd=self.work)
        self.stage.kubectl("apply", "-n", self.stage.namespace, "-f", str(self.work / MANIFEST))


def version_of(template: dict[str, Any]) -> str:
    env = template["spec"]["containers"][0].get("env") or []
    return next((e["value"] for e in env if e["name"] == "NAKSHA_DEMO_VERSION"), "")


def run(stage: Stage) -> RolloutOutcome:
    say = stage.progress.say
    ensure_stream(stage)
    repo = GitOpsRepo(stage)
    repo.seed()
    say(f"GitOps repository {repo.bare} seeded from examples/gitops")
    repo.sync()
    first = wait_phase(stage, "Healthy")
    say(f"Rollout {NAME} v1 Healthy (revision {first.get('stableRevision')})")
    traffic = Traffic(
        bootstrap=stage.bootstrap,
        topic=topic_for(stage.namespace),
        targets=lambda: canary_urls(stage),
        labels={"service": NAME, "role": "canary"},
        rate=CANARY_RATE,
    ).start()
    try:
        good = release(stage, repo, "v2", 0.0, first)
        promoted = wait_for_stable(stage, good, str(first.get("stableRevision")))
        say(f"v2 promoted: analysis passed, stable revision {promoted['stableRevision']}")
        bad = release(stage, repo, "v3", 0.5, promoted)
        rolled = wait_phase(stage, "RolledBack")
    finally:
        traffic.stop()
    rollback = dict(rolled.get("rollback") or {})
    say(f"v3 rolled back: {rollback.get('reason')}")
    spec = stage.kube.get(ROLLOUTS, stage.namespace, NAME)["spec"]
    say(
        f"Rollout spec reverted to {version_of(spec['template'])} (revision {rollback.get('stableRevision')})"
    )

    def revert_commit() -> str:
        status = stage.kube.get(ROLLOUTS, stage.namespace, NAME).get("status") or {}
        return str(((status.get("rollback") or {}).get("gitops") or {}).get("commit") or "")

    commit = str(stage.wait_for("the revert commit", revert_commit))
    log = git("log", "-1", "--stat", "main", cwd=repo.bare)
    say(f"revert commit {commit[:12]} pushed to the GitOps repository (the bad commit was {bad}):")
    stage.progress.say("$ git log -1 --stat")
    stage.progress.block(log)
    repo_manifest = yaml.safe_load(git("show", f"main:{MANIFEST}", cwd=repo.bare))
    return RolloutOutcome(
        promoted_revision=str(promoted["stableRevision"]),
        promoted_version="v2",
        rolled_back_revision=str(rollback.get("badRevision")),
        rollback_reason=str(rollback.get("reason")),
        phase=str(rolled.get("phase")),
        spec_version=version_of(spec["template"]),
        revert_commit=commit,
        repo_tip=git("rev-parse", "main", cwd=repo.bare).strip(),
        repo_version=version_of(repo_manifest["spec"]["template"]),
        git_log=log,
    )


def release(stage: Stage, repo: GitOpsRepo, version: str, error_rate: float, before: dict[str, Any]) -> str:
    commit = repo.release(version, error_rate)
    stage.progress.say(
        f"commit {commit}: storefront {version}, error rate {error_rate:.0%}; applied from git"
    )
    repo.sync()
    stage.wait_for(
        f"the {version} canary",
        lambda: (
            (s := status_of(stage)).get("currentRevision") not in (None, before.get("currentRevision"))
            and s.get("canaryWeight")
        ),
    )
    stage.progress.say(
        f"canary {version} at {status_of(stage).get('canaryWeight')}% weight; analysis: {ERRORS_DETECTOR}"
    )
    return commit


def status_of(stage: Stage) -> dict[str, Any]:
    return dict(stage.kube.get(ROLLOUTS, stage.namespace, NAME).get("status") or {})


def wait_phase(stage: Stage, phase: str) -> dict[str, Any]:
    found = stage.wait_for(
        f"Rollout {NAME} to be {phase}", lambda: (s := status_of(stage)).get("phase") == phase and s
    )
    assert isinstance(found, dict)
    return found


def wait_for_stable(stage: Stage, commit: str, previous: str) -> dict[str, Any]:
    def promoted() -> dict[str, Any] | None:
        status = status_of(stage)
        if status.get("phase") == "RolledBack":
            raise ConfigError(f"the good version (commit {commit}) was rolled back: {status.get('rollback')}")
        changed = status.get("stableRevision") not in (None, previous)
        return status if status.get("phase") == "Healthy" and changed else None

    found = stage.wait_for(f"Rollout {NAME} to promote commit {commit}", promoted)
    assert isinstance(found, dict)
    return found


def canary_urls(stage: Stage) -> list[str]:
    """The ready canary pods' addresses (what a mesh would route the canary's share to)."""
    selector = f"app={NAME},{ROLE_LABEL}=canary"
    urls = []
    for pod in stage.kube.list(PODS, stage.namespace, label_selector=selector):
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        if ready and status.get("podIP") and not pod["metadata"].get("deletionTimestamp"):
            urls.append(f"http://{status['podIP']}:8080/")
    return urls
