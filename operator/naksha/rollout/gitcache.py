"""A local cache of one remote git branch that survives being killed at any moment.

The GitOps revert (``naksha.rollout.gitops``) needs the branch's tip, its history (to find an
earlier revert by its trailer) and a way to make one commit on top and push it. This module gives
exactly that and nothing that can be left half done:

- the cache is a *bare* repository: no working tree and no persistent index, so there is no
  interrupted reset, rebase, merge or cherry-pick to finish and no index to corrupt;
- the branch is fetched by URL into one private ref (``refs/naksha/tip``) and pushed by URL, so no
  remote-tracking ref (``refs/remotes/origin/...``) is written — and none can stay locked;
- a commit is written by one ``git fast-import`` (blob, trees and commit in one pack, no index)
  and pushed with ``--force-with-lease=<branch>:<parent>``, so the server moves the branch only
  from the exact tip the commit was made on (a compare-and-swap);
- every use holds an ``flock`` on ``<workdir>/lock`` that is handed to the git children too. Whoever
  gets it knows no git process of ours works in the cache (children of a killed operator that are
  still running keep it held), so every ``*.lock`` and temporary file left there is stale and
  removed; in-progress markers (``MERGE_HEAD``, ``rebase-merge/``...) are cleared the same way;
- a cache that git cannot read (corrupt objects, missing objects, a broken config) is thrown away
  and fetched again: it is only a cache, the remote is the truth.

Every git command that fails is logged at WARNING with its arguments (credentials left out) and
git's own stderr.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from naksha.errors import NakshaError

logger = logging.getLogger(__name__)

GIT_TIMEOUT_SECONDS = 60.0
LOCK_WAIT_SECONDS = 30.0
TIP = "refs/naksha/tip"
REVERT = "refs/naksha/revert"
# Settings for every command: nothing runs in the background after we return (a detached
# `gc --auto` would outlive us and hold locks), and nothing asks a question.
QUIET = ("-c", "gc.auto=0", "-c", "maintenance.auto=false", "-c", "fetch.writeCommitGraph=false")
# What a kill can leave in a git directory besides `*.lock` files.
IN_PROGRESS = (
    "MERGE_HEAD",
    "MERGE_MSG",
    "MERGE_MODE",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "ORIG_HEAD",
    "BISECT_LOG",
    "rebase-merge",
    "rebase-apply",
    "sequencer",
    "gc.pid",
)


class GitOpsError(NakshaError):
    """Git could not do it; the message carries git's own words."""


class GitCommandError(GitOpsError):
    """One git command failed. ``local`` when it touched only the cache (so the cache is suspect)."""

    def __init__(self, command: str, returncode: int, stderr: str, *, local: bool) -> None:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        said = [line for line in lines if line.startswith(("fatal:", "error:", "remote: error"))] or lines
        super().__init__(f"git {command} failed: {' / '.join(said[:3]) or f'exit {returncode}'}")
        self.command, self.returncode, self.stderr, self.local = command, returncode, stderr, local


@dataclass(frozen=True)
class Entry:
    mode: str
    blob: str


class GitCache:
    """One remote branch, cached in ``<workdir>/cache.git``. Use inside ``with cache.locked():``."""

    def __init__(self, workdir: Path, url: str, auth: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.git_dir = workdir / "cache.git"
        self.url = url
        self.auth = auth  # `-c http.extraHeader=...` for network commands only; never logged
        self._lock_fd: int | None = None
        self.recovered: list[str] = []  # what the last `locked()` found and cleared (for logs, tests)

    # --- exclusive use and recovery -------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[GitCache]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.workdir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise GitOpsError(
                            f"a git process still works in {self.workdir} after {LOCK_WAIT_SECONDS:.0f}s"
                        ) from None
                    time.sleep(0.1)
            self._lock_fd = fd
            self.recover()
            yield self
        finally:
            self._lock_fd = None
            os.close(fd)  # releases the flock (git children that outlive us would keep it)

    def recover(self) -> None:
        """Clear what an interrupted git left behind; make a cache git cannot use a fresh one."""
        self.recovered = []
        legacy = self.workdir / "checkout"  # the working-tree clone earlier versions kept
        if legacy.exists():
            shutil.rmtree(legacy, ignore_errors=True)
            self.recovered.append("checkout")
        if not (self.git_dir / "HEAD").is_file():
            self.rebuild("no usable cache")
            return
        for stale in self._leftovers():
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            self.recovered.append(str(stale.relative_to(self.workdir)))
        if self.recovered:
            logger.warning(
                "GitOps cache %s: cleared what an interrupted git left: %s", self.git_dir, self.recovered
            )
        # A cache git cannot read (a broken config, lost objects) fails the fetch or a later read;
        # `revert_manifest` then rebuilds it, so no extra check is paid on every revert here.

    def _leftovers(self) -> Iterator[Path]:
        for name in IN_PROGRESS:
            if (self.git_dir / name).exists():
                yield self.git_dir / name
        for root, dirs, files in os.walk(self.git_dir):
            here = Path(root)
            if here.parent.name == "objects" and len(here.name) == 2:
                dirs.clear()  # loose objects: written by rename, never locked
            for name in files:
                if name.endswith(".lock") or name.startswith(("tmp_", "incoming-")):
                    yield here / name
            for name in list(dirs):
                if name.startswith("incoming-"):  # quarantine of an interrupted receive
                    dirs.remove(name)
                    yield here / name

    def rebuild(self, why: str) -> None:
        """Throw the cache away and start an empty one (the next fetch fills it)."""
        if self.git_dir.exists():
            logger.warning("GitOps cache %s is rebuilt: %s", self.git_dir, why)
            shutil.rmtree(self.git_dir, ignore_errors=True)
            self.recovered.append(f"cache.git rebuilt ({why})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._run(("init", "--quiet", "--bare", str(self.git_dir)), network=False, outside=True)

    # --- reading the branch ---------------------------------------------------------------------

    def fetch(self, branch: str) -> str:
        """The branch's tip on the remote, with its history in the cache."""
        self._run(("fetch", "--quiet", "--no-tags", self.url, f"+refs/heads/{branch}:{TIP}"), network=True)
        with contextlib.suppress(OSError):  # fetch writes the ref loose (nothing here packs refs)
            loose = (self.git_dir / TIP).read_text().strip()
            if re.fullmatch(r"[0-9a-f]{40,64}", loose):
                return loose
        return self.rev_parse(TIP)

    def remote_tip(self, branch: str) -> str | None:
        """The branch's tip as the remote says it (no cache involved); None if there is no such branch."""
        result = self._run(("ls-remote", self.url, f"refs/heads/{branch}"), network=True, outside=True)
        line = result.stdout.strip().splitlines()
        return line[0].split()[0] if line else None

    def rev_parse(self, ref: str) -> str:
        return self._run(
            ("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"), network=False
        ).stdout.strip()

    def entry(self, commit: str, path: str) -> Entry | None:
        out = self._run(("ls-tree", "-z", commit, "--", path), network=False).stdout
        if not out:
            return None
        mode, kind, rest = out.split(" ", 2)
        if kind != "blob":
            raise GitOpsError(f"{path} is a {kind}, not a file")
        return Entry(mode=mode, blob=rest.split("\t", 1)[0])

    def read_blob(self, blob: str) -> str:
        return self._run(("cat-file", "blob", blob), network=False).stdout

    def commits_with(self, tip: str, text: str) -> list[tuple[str, str]]:
        """(hash, message) of commits reachable from ``tip`` whose message holds ``text``, newest first."""
        out = self._run(
            ("log", "--format=%H%x00%B%x1e", "--fixed-strings", f"--grep={text}", tip), network=False
        ).stdout
        found = []
        for record in out.split("\x1e"):
            sha, _, message = record.strip().partition("\x00")
            if sha:
                found.append((sha, message))
        return found

    # --- writing one commit ---------------------------------------------------------------------

    def commit_file(
        self, parent: str, path: str, content: str, mode: str, message: str, author: tuple[str, str]
    ) -> str:
        """A commit on ``parent`` that changes only ``path`` to ``content``; nothing else moves.

        One `git fast-import` writes the blob, the trees and the commit in one pack (a kill leaves
        at most a `tmp_pack_*` and a ref lock, both cleared by `recover`).
        """
        if "\n" in path or path.startswith('"'):
            raise GitOpsError(f"cannot commit to a path like {path!r}")
        name, email = author
        stamp = f"{int(time.time())} +0000"
        body, text = message.encode(), content.encode()
        stream = (
            f"commit {REVERT}\nmark :1\n"
            f"author {name} <{email}> {stamp}\ncommitter {name} <{email}> {stamp}\n"
            f"data {len(body)}\n{message}\n"
            f"from {parent}\n"
            f"M {mode} inline {path}\ndata {len(text)}\n{content}\n"
            "get-mark :1\n"
        )
        result = self._run(("fast-import", "--quiet", "--force"), network=False, input=stream)
        commit = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
        if not re.fullmatch(r"[0-9a-f]{40,64}", commit):
            raise GitCommandError(
                "fast-import", 0, f"no commit id in its answer: {result.stdout!r}", local=True
            )
        return commit

    def push(self, commit: str, branch: str, parent: str) -> bool:
        """Move the remote branch from ``parent`` to ``commit``; False when it was not at ``parent``."""
        ref = f"refs/heads/{branch}"
        result = self._run(
            ("push", "--porcelain", f"--force-with-lease={ref}:{parent}", self.url, f"{commit}:{ref}"),
            network=True,
            check=False,
        )
        if result.returncode == 0:
            return True
        said = f"{result.stdout}\n{result.stderr}"
        if re.search(r"stale info|fetch first|non-fast-forward|\[rejected\]", said):
            logger.info("GitOps push of %s to %s lost a race: %s", commit[:12], branch, said.strip())
            return False
        raise self._failed(("push", self.url, f"{commit}:{ref}"), result, local=False)

    # --- running git ----------------------------------------------------------------------------

    def _run(
        self,
        args: tuple[str, ...],
        *,
        network: bool,
        check: bool = True,
        input: str | None = None,
        outside: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        command = ["git", *QUIET, *(self.auth if network else ()), *args]
        if not outside:  # `outside`: a command that needs no repository (and must not read ours)
            command[1:1] = ["--git-dir", str(self.git_dir)]
        full_env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "/bin/false",
            "LC_ALL": "C",
        }
        try:
            result = subprocess.run(
                command,
                cwd=self.workdir,
                env=full_env,
                input=input,
                capture_output=True,
                encoding="utf-8",
                errors="replace",
                timeout=GIT_TIMEOUT_SECONDS,
                check=False,
                pass_fds=(self._lock_fd,) if self._lock_fd is not None else (),
            )
        except subprocess.TimeoutExpired:
            logger.warning("GitOps: git %s took longer than %.0fs", _shown(args), GIT_TIMEOUT_SECONDS)
            raise GitOpsError(f"git {args[0]} took longer than {GIT_TIMEOUT_SECONDS:.0f}s") from None
        if check and result.returncode != 0:
            raise self._failed(args, result, local=not network)
        return result

    def _failed(
        self, args: tuple[str, ...], result: subprocess.CompletedProcess[str], *, local: bool
    ) -> GitCommandError:
        stderr = (result.stderr or result.stdout).strip()
        logger.warning("GitOps: git %s exited %d: %s", _shown(args), result.returncode, stderr)
        return GitCommandError(args[0], result.returncode, stderr, local=local)


def _shown(args: tuple[str, ...]) -> str:
    """A command for the log: a URL's user and password left out."""
    return " ".join(re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", arg) for arg in args)
