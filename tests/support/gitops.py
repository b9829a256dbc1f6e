"""A seeded GitOps repository and the revert requests the GitOps tests make against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from tests.support import git, push_all

from naksha.controllers.rollout.gitops import RevertRequest

GOOD = {
    "metadata": {"labels": {"app": "checkout"}},
    "spec": {"containers": [{"name": "app", "image": "shop:1.4"}]},
}


BAD = {
    "metadata": {"labels": {"app": "checkout"}},
    "spec": {"containers": [{"name": "app", "image": "shop:1.5"}]},
}


PATH = "apps/checkout/rollout.yaml"


def rollout(template: dict[str, Any], name: str = "checkout") -> dict[str, Any]:
    return {
        "apiVersion": "naksha.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "checkout"}}, "template": template},
    }


def seeded_remote(tmp_path: Path) -> Path:
    """A bare repository whose main branch holds the bad revision, next to another app's manifest."""
    bare = tmp_path / "gitops.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=tmp_path)
    seed = tmp_path / "seed"
    git("clone", "--quiet", str(bare), str(seed), cwd=tmp_path)
    (seed / "apps" / "checkout").mkdir(parents=True)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "checkout"}}
    (seed / PATH).write_text(yaml.safe_dump_all([service, rollout(BAD)], sort_keys=False))
    push_all(seed, "checkout 1.5")
    return bare


def request(repo: str, **fields: Any) -> RevertRequest:
    defaults: dict[str, Any] = {
        "branch": "main",
        "path": PATH,
        "namespace": "shop",
        "name": "checkout",
        "bad_revision": "7f3a",
        "stable_revision": "5c21",
        "reason": "analysis error-rate failed (2 of 4 measurements)",
        "stable_template": GOOD,
        "author_name": "naksha",
        "author_email": "naksha@shop.example",
    }
    return RevertRequest(repo=repo, **{**defaults, **fields})
