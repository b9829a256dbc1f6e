"""GitOps rollback: a revert commit of one Rollout's manifest, so Argo CD or Flux keep the good spec.

``revert_manifest`` fetches the branch into a local cache (``naksha.controllers.rollout.gitcache``: a bare
repository that recovers from being killed at any moment), finds the Rollout in the manifest file,
puts the stable revision's pod template back in ``spec.template``, and commits and pushes with a
message that names the Rollout, the bad and the restored revisions and the reason.

The commit carries two trailers: ``Naksha-Revert: <namespace>/<name>@<bad revision>`` and
``Naksha-Rollback: <rollback id>``. Before making a commit, the branch's history on the remote is
searched for them: a commit with this rollback's id means an earlier attempt of this same
rollback pushed it (killed after the server accepted it, before the status recorded it), so it is
reported as created by this rollback and nothing is pushed again. A commit with the same
``Naksha-Revert`` but another id is an earlier rollback of the same revision (it was retried and
failed again): it is reused when the file still holds the stable template, otherwise a new
revert is made. A push that loses a race with another writer is redone on top of the new tip.

Credentials, when the repository needs them, go to git as an HTTP header for the commands that
reach the remote (never into the cache's config or a file). The edit of the manifest itself is
pure: ``naksha.domain.rollout.manifest``.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from naksha.controllers.rollout.gitcache import GitCache, GitCommandError
from naksha.domain.rollout.manifest import GitOpsError, replace_template

__all__ = ["GitOpsError", "RevertRequest", "RevertResult", "replace_template", "revert_manifest"]

logger = logging.getLogger(__name__)
TRAILER = "Naksha-Revert"
ROLLBACK_TRAILER = "Naksha-Rollback"
PUSH_ATTEMPTS = 3


@dataclass(frozen=True)
class RevertRequest:
    repo: str  # URL, file:// URL or local path
    branch: str
    path: str  # the Rollout's manifest inside the repository
    namespace: str
    name: str
    bad_revision: str
    stable_revision: str
    reason: str
    stable_template: dict[str, Any]
    author_name: str = "naksha"
    author_email: str = "naksha@localhost"
    credentials: tuple[str, str] | None = field(default=None, repr=False)  # (username, password or token)
    rollback_id: str | None = None  # None for rollbacks recorded before ids existed

    @property
    def marker(self) -> str:
        return f"{TRAILER}: {self.namespace}/{self.name}@{self.bad_revision}"

    @property
    def rollback_marker(self) -> str | None:
        return f"{ROLLBACK_TRAILER}: {self.rollback_id}" if self.rollback_id else None

    def message(self) -> str:
        trailers = "\n".join(t for t in (self.marker, self.rollback_marker) if t)
        return (
            f"Revert Rollout {self.namespace}/{self.name} to revision {self.stable_revision}\n\n"
            f"Revision {self.bad_revision} was rolled back: {self.reason}\n\n"
            f"{trailers}\n"
        )

    def auth(self) -> tuple[str, ...]:
        if self.credentials is None:
            return ()
        user, secret = self.credentials
        token = base64.b64encode(f"{user}:{secret}".encode()).decode()
        return ("-c", f"http.extraHeader=Authorization: Basic {token}")


@dataclass(frozen=True)
class RevertResult:
    commit: str | None  # the revert commit on the branch; None when the file needed none
    created: bool  # this rollback made that commit (in this attempt or an earlier, interrupted one)
    already_pushed: bool = False  # found on the remote by its trailers rather than pushed now
    recovered: tuple[str, ...] = ()  # what an interrupted git had left in the cache, now cleared


def revert_manifest(request: RevertRequest, workdir: Path) -> RevertResult:
    cache = GitCache(workdir, request.repo, request.auth())
    with cache.locked():
        try:
            result = _revert(cache, request)
        except GitCommandError as error:
            if not error.local:
                raise
            # Git could not read its own cache (missing or corrupt objects): it is only a cache.
            cache.rebuild(str(error))
            result = _revert(cache, request)
        return RevertResult(result.commit, result.created, result.already_pushed, tuple(cache.recovered))


def _revert(cache: GitCache, request: RevertRequest) -> RevertResult:
    for _attempt in range(PUSH_ATTEMPTS):
        tip = _fetch(cache, request.branch)
        earlier = cache.commits_with(tip, request.marker)
        ours = [sha for sha, message in earlier if _has_line(message, request.rollback_marker)]
        if ours:
            logger.info("GitOps revert %s is already on %s: %s", request.marker, request.branch, ours[0])
            return RevertResult(commit=ours[0], created=True, already_pushed=True)
        if earlier and request.rollback_id is None:
            return RevertResult(commit=earlier[0][0], created=False, already_pushed=True)
        file = cache.read_file(tip, request.path)
        if file is None:
            raise GitOpsError(f"{request.path} does not exist on branch {request.branch}")
        updated = replace_template(file.content, request.namespace, request.name, request.stable_template)
        if updated == file.content:  # an earlier rollback's revert (or someone) already restored it
            return RevertResult(commit=earlier[0][0] if earlier else None, created=False)
        author = (request.author_name, request.author_email)
        commit = cache.commit_file(file, updated, request.message(), author)
        if cache.push(commit, request.branch, tip):
            cache.tidy()
            return RevertResult(commit=commit, created=True)
    raise GitOpsError(
        f"could not push to {request.branch} after {PUSH_ATTEMPTS} attempts (the branch kept moving)"
    )


def _fetch(cache: GitCache, branch: str) -> str:
    """The branch's tip, fetched into the cache; a cache that cannot take the fetch is rebuilt."""
    try:
        return cache.fetch(branch)
    except GitCommandError as error:
        # The remote or the cache? Ask the remote alone: if it answers, the cache was at fault.
        try:
            remote = cache.remote_tip(branch)
        except GitCommandError:
            raise error from None  # the remote is unreachable: git's words about the fetch say why
        if remote is None:
            raise GitOpsError(f"branch {branch} does not exist in {cache.url}") from None
        cache.rebuild(f"the fetch failed but the remote answers: {error}")
        return cache.fetch(branch)


def _has_line(message: str, line: str | None) -> bool:
    return line is not None and line in (m.strip() for m in message.splitlines())
