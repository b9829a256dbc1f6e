"""A GitOps rollback is one revert commit of the Rollout's manifest, pushed to a real git repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import git, push_all
from tests.support.gitops import BAD, GOOD, PATH, request, rollout, seeded_remote

from naksha.controllers.rollout.gitops import GitOpsError, replace_template, revert_manifest


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return seeded_remote(tmp_path)


def tip(remote: Path) -> tuple[str, str, str]:
    """The branch tip's hash, message and manifest."""
    sha = git("rev-parse", "main", cwd=remote)
    return sha, git("log", "-1", "--format=%B", "main", cwd=remote), git("show", f"main:{PATH}", cwd=remote)


def test_the_revert_commit_restores_the_stable_template_and_says_why(remote, tmp_path):
    before = git("rev-parse", "main", cwd=remote)
    result = revert_manifest(request(str(remote)), tmp_path / "work")
    sha, message, manifest = tip(remote)
    assert result.created and result.commit == sha and sha != before
    documents = list(yaml.safe_load_all(manifest))
    assert documents[0]["kind"] == "Service"  # the other document is kept
    assert documents[1]["spec"]["template"] == GOOD and documents[1]["spec"]["replicas"] == 4
    assert message.startswith("Revert Rollout shop/checkout to revision 5c21")
    assert "Revision 7f3a was rolled back: analysis error-rate failed (2 of 4 measurements)" in message
    assert "Naksha-Revert: shop/checkout@7f3a" in message
    assert git("log", "-1", "--format=%an <%ae>", "main", cwd=remote) == "naksha <naksha@shop.example>"
    assert git("rev-parse", "main~1", cwd=remote) == before


def test_a_second_revert_of_the_same_revision_finds_the_first_commit_and_adds_none(remote, tmp_path):
    first = revert_manifest(request(str(remote)), tmp_path / "work")
    again = revert_manifest(request(f"file://{remote}"), tmp_path / "restarted")  # a fresh controller
    assert again.commit == first.commit and again.created is False
    assert git("rev-list", "--count", "main", cwd=remote) == "2"


def test_a_branch_that_moved_on_meanwhile_gets_the_revert_on_top(remote, tmp_path):
    work = tmp_path / "work"
    revert_manifest(request(str(remote), bad_revision="0001"), work)  # leaves a checkout behind
    other = tmp_path / "other"
    git("clone", "--quiet", str(remote), str(other), cwd=tmp_path)
    (other / "README").write_text("unrelated change\n")
    push_all(other, "docs")
    # The manifest is back at the bad template (a new bad revision), then reverted from the stale checkout.
    (other / PATH).write_text(
        yaml.safe_dump_all([next(yaml.safe_load_all((other / PATH).read_text())), rollout(BAD)])
    )
    push_all(other, "1.5 again")
    result = revert_manifest(request(str(remote), bad_revision="0002"), work)
    sha, message, manifest = tip(remote)
    assert result.created and result.commit == sha
    assert "@0002" in message and list(yaml.safe_load_all(manifest))[1]["spec"]["template"] == GOOD
    assert git("log", "-1", "--format=%s", "main~1", cwd=remote) == "1.5 again"


def test_a_manifest_already_at_the_stable_template_needs_no_commit(remote, tmp_path):
    revert_manifest(request(str(remote)), tmp_path / "work")
    result = revert_manifest(request(str(remote), bad_revision="other"), tmp_path / "work")
    assert result.commit is None and result.created is False


def test_an_unreachable_repository_is_an_error_with_gits_reason(tmp_path):
    with pytest.raises(
        GitOpsError, match=r"git fetch failed: fatal: .*(does not exist|not a git repository|does not appear)"
    ):
        revert_manifest(request(str(tmp_path / "nowhere.git")), tmp_path / "work")


def test_a_manifest_without_the_rollout_is_an_error(tmp_path):
    with pytest.raises(GitOpsError, match="no Rollout shop/checkout in the manifest"):
        replace_template(yaml.safe_dump(rollout(BAD, name="cart")), "shop", "checkout", GOOD)
    with pytest.raises(GitOpsError, match="not valid YAML"):
        replace_template("kind: [unclosed", "shop", "checkout", GOOD)


def test_a_push_that_loses_a_race_is_retried_on_top_of_the_winner(remote, tmp_path, monkeypatch):
    from naksha.controllers.rollout.gitcache import GitCache

    other = tmp_path / "other"
    git("clone", "--quiet", str(remote), str(other), cwd=tmp_path)
    real_commit = GitCache.commit_file
    raced: list[str] = []

    def commit_then_lose_the_race(self: GitCache, *args: Any) -> str:
        sha = real_commit(self, *args)
        if not raced:  # another writer pushes between our commit and our push, once
            (other / "README").write_text("a concurrent change\n")
            push_all(other, "concurrent")
            raced.append(sha)
        return sha

    monkeypatch.setattr(GitCache, "commit_file", commit_then_lose_the_race)
    result = revert_manifest(request(str(remote)), tmp_path / "work")
    sha, message, _ = tip(remote)
    assert result.created and result.commit == sha and sha != raced[0]
    assert git("log", "-1", "--format=%s", "main~1", cwd=remote) == "concurrent"
    assert message.count("Naksha-Revert") == 1


def test_a_checkout_left_from_another_repository_is_replaced(remote, tmp_path):
    elsewhere = tmp_path / "elsewhere.git"
    git("clone", "--quiet", "--bare", str(remote), str(elsewhere), cwd=tmp_path)
    revert_manifest(request(str(elsewhere)), tmp_path / "work")  # the spec used to point there
    result = revert_manifest(request(str(remote)), tmp_path / "work")
    assert result.created and git("rev-parse", "main", cwd=remote) == result.commit


def test_the_revert_changes_only_the_manifest_and_keeps_its_mode(remote, tmp_path):
    clone = tmp_path / "dev"
    git("clone", "--quiet", str(remote), str(clone), cwd=tmp_path)
    (clone / "apps" / "checkout" / "run.sh").write_text("#!/bin/sh\n")
    (clone / "apps" / "checkout" / "run.sh").chmod(0o755)
    (clone / PATH).chmod(0o755)  # an executable manifest, oddly
    push_all(clone, "tools")
    before = git("ls-tree", "-r", "main", cwd=remote).splitlines()
    result = revert_manifest(request(str(remote)), tmp_path / "work")
    after = git("ls-tree", "-r", "main", cwd=remote).splitlines()
    changed = sorted(set(after) - set(before))
    assert len(changed) == 1 and changed[0].startswith("100755 blob ") and changed[0].endswith(PATH)
    assert git("diff", "--name-only", f"{result.commit}~1", result.commit, cwd=remote) == PATH
    assert git("fsck", "--strict", "--no-dangling", cwd=remote) == ""


def test_a_path_that_is_not_a_file_on_the_branch_is_an_error(remote, tmp_path):
    with pytest.raises(GitOpsError, match="apps/checkout is not a file"):
        revert_manifest(request(str(remote), path="apps/checkout"), tmp_path / "work")
    with pytest.raises(GitOpsError, match=r"apps/cart\.yaml does not exist on branch main"):
        revert_manifest(request(str(remote), path="apps/cart.yaml"), tmp_path / "work")
    with pytest.raises(GitOpsError, match="is not a path inside the repository"):
        revert_manifest(request(str(remote), path="../outside.yaml"), tmp_path / "work")
