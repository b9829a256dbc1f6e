"""The GitOps revert recovers from whatever an interrupted git left behind, and never pushes twice.

Each test leaves the local cache (or the remote) in a state a kill can produce — stale lock files,
half-done operations, missing objects, a broken config, a revert already pushed but not recorded —
and checks that the next revert succeeds with exactly one revert commit per rollback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tests.support import git, push_all
from tests.support.gitops import GOOD, PATH, request, seeded_remote
from tests.support.gitserver import git_daemon

from naksha.controllers.rollout import gitcache
from naksha.controllers.rollout.gitops import GitOpsError, revert_manifest


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return seeded_remote(tmp_path)


def reverts_of(repo: Path, rollback_id: str) -> list[str]:
    return git(
        "log", "--format=%H", "--fixed-strings", f"--grep=Naksha-Rollback: {rollback_id}", "main", cwd=repo
    ).split()


def push_bad_again(repo: Path, tmp_path: Path, image: str) -> None:
    """A developer pushes a new (bad) version of the Rollout's template."""
    clone = tmp_path / f"dev-{image.replace(':', '-')}"
    git("clone", "--quiet", str(repo), str(clone), cwd=tmp_path)
    documents = list(yaml.safe_load_all((clone / PATH).read_text()))
    documents[1]["spec"]["template"]["spec"]["containers"][0]["image"] = image
    (clone / PATH).write_text(yaml.safe_dump_all(documents, sort_keys=False))
    push_all(clone, image)


def assert_repository_intact(repo: Path) -> None:
    assert git("fsck", "--strict", "--no-dangling", cwd=repo) == ""
    assert git("rev-list", "--merges", "main", cwd=repo) == ""  # linear history


class TestLeftoversInTheCache:
    def test_stale_lock_files_are_cleared_without_rebuilding_the_cache(self, remote, tmp_path):
        work = tmp_path / "work"
        revert_manifest(request(str(remote), rollback_id="first"), work)
        cache = work / "cache.git"
        stale = [
            "index.lock",
            "refs/remotes/origin/main.lock",
            f"{gitcache.TIP}.lock",
            "packed-refs.lock",
            "config.lock",
            "shallow.lock",
            "HEAD.lock",
            "objects/pack/tmp_pack_x1Y2z3",
            "objects/pack/.tmp-4242-pack-0123abcd.idx",  # a repack cut short
        ]
        for name in stale:
            (cache / name).parent.mkdir(parents=True, exist_ok=True)
            (cache / name).write_text("left by a killed git\n")
        push_bad_again(remote, tmp_path, "shop:1.6")
        result = revert_manifest(request(str(remote), bad_revision="0002", rollback_id="second"), work)
        assert result.created and result.commit == git("rev-parse", "main", cwd=remote)
        assert sorted(result.recovered) == sorted(f"cache.git/{name}" for name in stale)
        assert not any((cache / name).exists() for name in stale)
        assert_repository_intact(remote)

    def test_half_done_operations_are_cleared(self, remote, tmp_path):
        work = tmp_path / "work"
        revert_manifest(request(str(remote), rollback_id="first"), work)
        cache = work / "cache.git"
        (cache / "MERGE_HEAD").write_text(git("rev-parse", "main", cwd=remote) + "\n")
        (cache / "CHERRY_PICK_HEAD").write_text(git("rev-parse", "main", cwd=remote) + "\n")
        (cache / "rebase-merge").mkdir()
        (cache / "rebase-merge" / "head-name").write_text("refs/heads/main\n")
        push_bad_again(remote, tmp_path, "shop:1.6")
        result = revert_manifest(request(str(remote), bad_revision="0002", rollback_id="second"), work)
        assert result.created
        assert {
            "cache.git/MERGE_HEAD",
            "cache.git/CHERRY_PICK_HEAD",
            "cache.git/rebase-merge",
        } <= set(result.recovered)
        assert not (cache / "rebase-merge").exists()

    def test_a_working_tree_clone_of_an_earlier_version_with_its_locks_is_replaced(self, remote, tmp_path):
        work = tmp_path / "work"
        legacy = work / "checkout"
        git("clone", "--quiet", str(remote), str(legacy), cwd=tmp_path)
        (legacy / ".git" / "index.lock").write_text("")  # a reset killed half-way
        (legacy / ".git" / "refs" / "remotes" / "origin").mkdir(parents=True, exist_ok=True)
        (legacy / ".git" / "refs" / "remotes" / "origin" / "main.lock").write_text("")  # a push killed
        result = revert_manifest(request(str(remote), rollback_id="r1"), work)
        assert result.created and "checkout" in result.recovered and not legacy.exists()
        assert reverts_of(remote, "r1") == [result.commit]

    def test_missing_objects_make_the_cache_be_fetched_again(self, remote, tmp_path):
        work = tmp_path / "work"
        revert_manifest(request(str(remote), rollback_id="first"), work)
        objects = work / "cache.git" / "objects"
        for path in list(objects.rglob("*")):
            if path.is_file() and path.parent.name != "info":
                path.unlink()
        push_bad_again(remote, tmp_path, "shop:1.6")
        result = revert_manifest(request(str(remote), bad_revision="0002", rollback_id="second"), work)
        assert result.created and result.commit == git("rev-parse", "main", cwd=remote)
        assert_repository_intact(remote)

    def test_corrupt_objects_make_a_fresh_cache(self, remote, tmp_path):
        work = tmp_path / "work"
        revert_manifest(request(str(remote), rollback_id="first"), work)
        objects = [
            path
            for path in (work / "cache.git" / "objects").rglob("*")
            if path.is_file() and (len(path.parent.name) == 2 or path.suffix == ".pack")
        ]
        assert objects
        for path in objects:  # git still sees every object; their bytes are garbage
            path.chmod(0o644)
            path.write_bytes(b"\x78\x01garbage")
        push_bad_again(remote, tmp_path, "shop:1.6")
        result = revert_manifest(request(str(remote), bad_revision="0002", rollback_id="second"), work)
        assert result.created and result.commit == git("rev-parse", "main", cwd=remote)
        assert any(item.startswith("cache.git rebuilt") for item in result.recovered)
        assert_repository_intact(remote)

    def test_a_config_git_cannot_read_makes_a_fresh_cache(self, remote, tmp_path):
        work = tmp_path / "work"
        revert_manifest(request(str(remote), rollback_id="first"), work)
        (work / "cache.git" / "config").write_text("[core\n\tbare = yes-and-no\n")
        push_bad_again(remote, tmp_path, "shop:1.6")
        result = revert_manifest(request(str(remote), bad_revision="0002", rollback_id="second"), work)
        assert result.created and any(item.startswith("cache.git rebuilt") for item in result.recovered)


class TestARevertAlreadyPushed:
    def test_a_revert_pushed_before_a_kill_is_found_on_the_remote_and_counted_as_this_rollbacks(
        self, remote, tmp_path
    ):
        pushed = revert_manifest(request(str(remote), rollback_id="r1"), tmp_path / "killed")
        # The operator died before recording it; its successor starts from an empty cache.
        again = revert_manifest(request(str(remote), rollback_id="r1"), tmp_path / "successor")
        assert (again.commit, again.created, again.already_pushed) == (pushed.commit, True, True)
        assert git("rev-list", "--count", "main", cwd=remote) == "2"

    def test_it_is_found_even_when_others_pushed_on_top_meanwhile(self, remote, tmp_path):
        pushed = revert_manifest(request(str(remote), rollback_id="r1"), tmp_path / "work")
        other = tmp_path / "other"
        git("clone", "--quiet", str(remote), str(other), cwd=tmp_path)
        (other / "README").write_text("later work\n")
        push_all(other, "later")
        again = revert_manifest(request(str(remote), rollback_id="r1"), tmp_path / "work")
        assert again.commit == pushed.commit and again.created and again.already_pushed
        assert git("rev-list", "--count", "main", cwd=remote) == "3"

    def test_an_earlier_rollback_of_the_same_revision_is_reused_but_not_claimed(self, remote, tmp_path):
        first = revert_manifest(request(str(remote), rollback_id="r1"), tmp_path / "work")
        again = revert_manifest(request(str(remote), rollback_id="r2"), tmp_path / "work")
        assert (again.commit, again.created) == (first.commit, False)

    def test_a_retried_revision_that_came_back_gets_a_new_revert(self, remote, tmp_path):
        first = revert_manifest(request(str(remote), rollback_id="r1"), tmp_path / "work")
        push_bad_again(remote, tmp_path, "shop:1.5")  # the same bad template, pushed again and retried
        second = revert_manifest(request(str(remote), rollback_id="r2"), tmp_path / "work")
        assert second.created and second.commit != first.commit
        assert reverts_of(remote, "r1") == [first.commit] and reverts_of(remote, "r2") == [second.commit]


class TestGitProcessesOfOurs:
    def test_a_git_still_working_in_the_cache_is_waited_for(self, remote, tmp_path, monkeypatch):
        work = tmp_path / "work"
        work.mkdir()
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(work / "lock"), "1.0"], stdout=subprocess.PIPE
        )
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        (work / "cache.git").mkdir()  # what it works on must not be touched meanwhile
        started = time.monotonic()
        result = revert_manifest(request(str(remote), rollback_id="r1"), work)
        assert result.created and time.monotonic() - started >= 0.5
        holder.wait(timeout=10)

    def test_one_that_never_finishes_is_an_error_not_a_cleared_lock(self, remote, tmp_path, monkeypatch):
        monkeypatch.setattr(gitcache, "LOCK_WAIT_SECONDS", 0.3)
        work = tmp_path / "work"
        work.mkdir()
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(work / "lock"), "30"], stdout=subprocess.PIPE
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
            with pytest.raises(GitOpsError, match="a git process still works in"):
                revert_manifest(request(str(remote), rollback_id="r1"), work)
        finally:
            holder.kill()
            holder.wait(timeout=10)


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


class TestFailuresAreLogged:
    def test_a_failing_command_is_logged_with_its_arguments_and_stderr_but_no_secret(self, tmp_path, caplog):
        caplog.set_level(logging.WARNING, logger="naksha.controllers.rollout.gitcache")
        missing = f"file://{tmp_path}/nowhere.git"
        with pytest.raises(GitOpsError):
            revert_manifest(request(missing, credentials=("bot", "s3cr3t-token")), tmp_path / "work")
        logged = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any("git fetch" in r.getMessage() and "nowhere.git" in r.getMessage() for r in logged)
        assert any("does not appear to be a git repository" in r.getMessage() for r in logged)
        assert not any("s3cr3t" in r.getMessage() or "czNjcjN0" in r.getMessage() for r in caplog.records)


def revert_in_a_child(repo: str, revision: str, rollback_id: str, work: Path) -> tuple[int, int]:
    """A forked process (its own process group, so its git children die with it) doing one revert."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.setpgid(0, 0)
            result = revert_manifest(request(repo, bad_revision=revision, rollback_id=rollback_id), work)
            os.write(write, json.dumps({"commit": result.commit, "created": result.created}).encode())
            status = 0
        except BaseException as error:
            os.write(write, json.dumps({"error": f"{type(error).__name__}: {error}"}).encode())
        finally:
            os._exit(status)
    os.close(write)
    with contextlib.suppress(OSError):  # both sides set the group: no kill can come before it exists
        os.setpgid(pid, pid)
    return pid, read


def test_reverts_killed_at_random_moments_leave_one_commit_per_rollback(remote, tmp_path):
    """SIGKILL the whole process group of a revert (git children included) at random moments.

    The repository is served by `git daemon`, apart from the killed processes, as a remote is.
    """
    seed = int(os.environ.get("NAKSHA_TEST_SEED") or random.randrange(1 << 30))
    print(f"seed {seed} (NAKSHA_TEST_SEED={seed} repeats it)")
    rng = random.Random(seed)
    work = tmp_path / "work"
    kills, duration = 0, 0.15
    with git_daemon(tmp_path) as server:
        url = f"{server}/{remote.name}"
        for number in range(1, 5):
            revision, rollback_id = f"bad{number}", f"rollback-{number}"
            push_bad_again(remote, tmp_path, f"shop:2.{number}")
            cut_short = 0
            for _attempt in range(15):  # until five were cut short somewhere in the git work
                pid, output = revert_in_a_child(url, revision, rollback_id, work)
                time.sleep(rng.uniform(0.0, duration))
                with contextlib.suppress(ProcessLookupError):  # it finished first
                    os.killpg(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                os.close(output)
                cut_short += os.WIFSIGNALED(status)
                if cut_short == 5:
                    break
            kills += cut_short
            errors = []
            for _attempt in range(3):  # as the operator retries: a loaded git daemon may drop one
                started = time.monotonic()
                pid, output = revert_in_a_child(url, revision, rollback_id, work)
                _, status = os.waitpid(pid, 0)
                duration = time.monotonic() - started
                outcome = json.loads(os.read(output, 65536) or b"{}")
                os.close(output)
                if "error" not in outcome:
                    break
                errors.append(outcome["error"])
                print(f"a revert failed and is retried: {outcome['error']}")
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"seed {seed}: {errors}"
            assert outcome["created"] is True, f"seed {seed}: {outcome}"
            assert reverts_of(remote, rollback_id) == [outcome["commit"]], f"seed {seed}"
    print(f"{kills} kills")
    assert kills >= 12  # (the rest finished before their kill)
    assert_repository_intact(remote)
    assert git("rev-list", "--count", "main", cwd=remote) == str(1 + 4 * 2)  # seed, then bad + revert x4
    manifest = list(yaml.safe_load_all(git("show", f"main:{PATH}", cwd=remote)))
    assert manifest[1]["spec"]["template"] == GOOD
