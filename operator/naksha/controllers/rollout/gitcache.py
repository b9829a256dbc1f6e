"""A local cache of one remote git branch that survives being killed at any moment.

The GitOps revert (``naksha.controllers.rollout.gitops``) needs the branch's tip, its history (to find an
earlier revert by its trailer) and a way to make one commit on top and push it. This module gives
exactly that and nothing that can be left half done:

- the cache is a *bare* repository: no working tree and no persistent index, so there is no
  interrupted reset, rebase, merge or cherry-pick to finish and no index to corrupt;
- the branch is fetched by URL into one private ref (``refs/naksha/tip``) and pushed by URL, so no
  remote-tracking ref (``refs/remotes/origin/...``) is written — and none can stay locked;
- the file and the trees above it are read with one ``git cat-file --batch``; the new blob, trees
  and commit are written as loose objects by ``naksha.controllers.rollout.gitobjects`` (temporary file, then
  rename: no index, no ref, no lock); the commit is pushed with
  ``--force-with-lease=<branch>:<parent>``, so the server moves the branch only from the exact
  tip it was made on (a compare-and-swap);
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

from naksha.controllers.rollout import gitobjects
from naksha.domain.rollout.manifest import GitOpsError

logger = logging.getLogger(__name__)

GIT_TIMEOUT_SECONDS = 60.0
LOCK_WAIT_SECONDS = 30.0
TIP = "refs/naksha/tip"
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


class GitCommandError(GitOpsError):
    """One git command failed. ``local`` when it touched only the cache (so the cache is suspect)."""

    def __init__(self, command: str, returncode: int, stderr: str, *, local: bool) -> None:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        said = [line for line in lines if line.startswith(("fatal:", "error:", "remote: error"))] or lines
        super().__init__(f"git {command} failed: {' / '.join(said[:3]) or f'exit {returncode}'}")
        self.command, self.returncode, self.stderr, self.local = command, returncode, stderr, local


@dataclass(frozen=True)
class FileAt:
    """A file as of one commit, with the raw trees from the root down to its directory."""

    commit: str
    parts: tuple[str, ...]  # the path's components
    trees: tuple[bytes, ...]  # one per component: the tree that holds it
    content: str
    mode: bytes


@dataclass(frozen=True)
class Said:
    """What one git command answered."""

    returncode: int
    stdout: str
    stderr: str


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
                if name.endswith(".lock") or name.startswith(("tmp_", ".tmp-", "incoming-")):
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

    def read_file(self, commit: str, path: str) -> FileAt | None:
        """``path`` at ``commit`` with the trees above it, from one `git cat-file --batch`; None if absent."""
        parts = [part for part in path.split("/") if part]
        if not parts or any(part in (".", "..") for part in parts) or "\n" in path:
            raise GitOpsError(f"{path!r} is not a path inside the repository")
        names = [f"{commit}^{{tree}}", *(f"{commit}:{'/'.join(parts[:i])}" for i in range(1, len(parts) + 1))]
        found = self._batch(names)
        if any(item is None for item in found):
            return None
        objects = [item for item in found if item is not None]
        trees, (kind, blob) = objects[:-1], objects[-1]
        if kind != "blob" or any(tree_kind != "tree" for tree_kind, _ in trees):
            raise GitOpsError(f"{path} is not a file on that branch")
        mode = gitobjects.mode_of(trees[-1][1], parts[-1].encode())
        return FileAt(commit, tuple(parts), tuple(raw for _, raw in trees), blob.decode(), mode or b"100644")

    def _batch(self, names: list[str]) -> list[tuple[str, bytes] | None]:
        """(type, content) of each object named, or None where git has no such object."""
        out = self._exec(
            ("cat-file", "--batch"), network=False, input="".join(f"{n}\n" for n in names).encode()
        )
        found: list[tuple[str, bytes] | None] = []
        at = 0
        for _name in names:
            end = out.stdout.index(b"\n", at)
            header = out.stdout[at:end].split(b" ")
            at = end + 1
            if len(header) != 3:  # "<name> missing" (or ambiguous)
                found.append(None)
                continue
            size = int(header[2])
            found.append((header[1].decode(), out.stdout[at : at + size]))
            at += size + 1
        return found

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

    def commit_file(self, file: FileAt, content: str, message: str, author: tuple[str, str]) -> str:
        """A commit on ``file.commit`` changing only that file to ``content``; nothing else moves.

        The objects are written by ``naksha.controllers.rollout.gitobjects`` (no git process, no
        index, no ref).
        """
        objects = self.git_dir / "objects"
        try:
            sha = gitobjects.write_loose(objects, "blob", content.encode())
            is_tree = False
            for name, raw in zip(reversed(file.parts), reversed(file.trees), strict=True):
                tree, _ = gitobjects.replace_entry(raw, name.encode(), sha, tree=is_tree)
                sha, is_tree = gitobjects.write_loose(objects, "tree", tree), True
            text = gitobjects.commit_text(sha, file.commit, author, int(time.time()), message)
            return gitobjects.write_loose(objects, "commit", text)
        except gitobjects.ObjectError as error:
            raise GitOpsError(f"cannot commit {'/'.join(file.parts)}: {error}") from None

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

    def tidy(self) -> None:
        """Pack the cache when git finds it worth it (it looks at one object directory to decide).

        Run in the foreground, under the lock: a detached `gc` would outlive the lock. A failure
        only costs disk space, so it is logged and otherwise ignored.
        """
        self._run(
            ("-c", "gc.auto=6700", "-c", "gc.autoDetach=false", "gc", "--auto", "--quiet"),
            network=False,
            check=False,
        )

    # --- running git ----------------------------------------------------------------------------

    def _run(
        self,
        args: tuple[str, ...],
        *,
        network: bool,
        check: bool = True,
        outside: bool = False,
    ) -> Said:
        result = self._exec(args, network=network, check=check, outside=outside)
        return Said(result.returncode, _text(result.stdout), _text(result.stderr))

    def _exec(
        self,
        args: tuple[str, ...],
        *,
        network: bool,
        check: bool = True,
        input: bytes | None = None,
        outside: bool = False,
    ) -> subprocess.CompletedProcess[bytes]:
        command = ["git", *QUIET, *(self.auth if network else ()), *args]
        if not outside:  # `outside`: a command that needs no repository (and must not read ours)
            command[1:1] = ["--git-dir", str(self.git_dir)]
        environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "LC_ALL": "C"}
        try:
            result = subprocess.run(
                command,
                cwd=self.workdir,
                env=environment,
                input=input,
                capture_output=True,
                timeout=GIT_TIMEOUT_SECONDS,
                check=False,
                pass_fds=(self._lock_fd,) if self._lock_fd is not None else (),
            )
        except subprocess.TimeoutExpired:
            logger.warning("GitOps: git %s took longer than %.0fs", _shown(args), GIT_TIMEOUT_SECONDS)
            raise GitOpsError(f"git {args[0]} took longer than {GIT_TIMEOUT_SECONDS:.0f}s") from None
        if result.returncode != 0:
            said = Said(result.returncode, _text(result.stdout), _text(result.stderr))
            if check:
                raise self._failed(args, said, local=not network)
            if args[0] != "push":  # a push's refusal is an answer, handled by `push`
                self._failed(args, said, local=not network)  # logged all the same
        return result

    def _failed(self, args: tuple[str, ...], result: Said, *, local: bool) -> GitCommandError:
        stderr = (result.stderr or result.stdout).strip()
        logger.warning("GitOps: git %s exited %d: %s", _shown(args), result.returncode, stderr)
        return GitCommandError(args[0], result.returncode, stderr, local=local)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _shown(args: tuple[str, ...]) -> str:
    """A command for the log: a URL's user and password left out."""
    return " ".join(redact(arg) for arg in args)


def redact(text: str) -> str:
    """``https://user:token@host/...`` as ``https://***@host/...``."""
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", text)
