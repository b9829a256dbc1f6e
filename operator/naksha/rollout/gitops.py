"""GitOps rollback: a revert commit of one Rollout's manifest, so Argo CD or Flux keep the good spec.

``revert_manifest`` clones (or refreshes) the repository, finds the Rollout in the manifest file,
puts the stable revision's pod template back in ``spec.template``, and commits and pushes with a
message that names the Rollout, the bad and the restored revisions and the reason. The commit
carries a trailer ``Naksha-Revert: <namespace>/<name>@<bad revision>``; a revert that finds that
trailer on the branch already does nothing, so a controller killed between committing and
recording it never makes a second commit. A push that loses a race with another writer is
retried on top of the new tip.

Credentials, when the repository needs them, go to git as an HTTP header for that one command
(never into the clone's config or a file). Comments in the manifest file are not kept: the file
is rewritten from its parsed YAML documents, in their order and with their keys' order.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from naksha.errors import NakshaError

TRAILER = "Naksha-Revert"
GIT_TIMEOUT_SECONDS = 60.0
PUSH_ATTEMPTS = 3


class GitOpsError(NakshaError):
    """Git could not do it; the message carries git's own words."""


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

    @property
    def marker(self) -> str:
        return f"{TRAILER}: {self.namespace}/{self.name}@{self.bad_revision}"

    def message(self) -> str:
        return (
            f"Revert Rollout {self.namespace}/{self.name} to revision {self.stable_revision}\n\n"
            f"Revision {self.bad_revision} was rolled back: {self.reason}\n\n"
            f"{self.marker}\n"
        )


@dataclass(frozen=True)
class RevertResult:
    commit: str | None  # None: the file already held the stable template, nothing to commit
    created: bool  # False when an earlier attempt had already committed (or nothing was needed)


def revert_manifest(request: RevertRequest, workdir: Path) -> RevertResult:
    git = _Git(request, workdir / "checkout")
    git.sync()
    for _attempt in range(PUSH_ATTEMPTS):
        existing = git.find_marker()
        if existing:
            return RevertResult(commit=existing, created=False)
        manifest = git.checkout / request.path
        try:
            original = manifest.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise GitOpsError(f"{request.path} does not exist on branch {request.branch}") from None
        updated = replace_template(original, request.namespace, request.name, request.stable_template)
        if updated == original:
            return RevertResult(commit=None, created=False)
        manifest.write_text(updated, encoding="utf-8")
        commit = git.commit(request.path, request.message())
        if git.push():
            return RevertResult(commit=commit, created=True)
        git.sync()  # someone pushed first: start again from their tip
    raise GitOpsError(
        f"could not push to {request.branch} after {PUSH_ATTEMPTS} attempts (the branch kept moving)"
    )


def replace_template(text: str, namespace: str, name: str, template: dict[str, Any]) -> str:
    """The manifest with that Rollout's ``spec.template`` replaced; other documents untouched."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise GitOpsError(f"the manifest is not valid YAML: {error}") from None
    found = False
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "Rollout":
            continue
        metadata = document.get("metadata") or {}
        if metadata.get("name") != name or metadata.get("namespace", namespace) != namespace:
            continue
        if document.get("spec", {}).get("template") == template:
            return text
        document.setdefault("spec", {})["template"] = template
        found = True
    if not found:
        raise GitOpsError(f"no Rollout {namespace}/{name} in the manifest")
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)


class _Git:
    def __init__(self, request: RevertRequest, checkout: Path) -> None:
        self.request = request
        self.checkout = checkout
        self.env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "LC_ALL": "C"}

    def _auth(self) -> list[str]:
        if self.request.credentials is None:
            return []
        user, secret = self.request.credentials
        token = base64.b64encode(f"{user}:{secret}".encode()).decode()
        return ["-c", f"http.extraHeader=Authorization: Basic {token}"]

    def run(
        self, *args: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = ["git", *self._auth(), *args]
        try:
            result = subprocess.run(
                command,
                cwd=cwd or self.checkout,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitOpsError(f"git {args[0]} took longer than {GIT_TIMEOUT_SECONDS:.0f}s") from None
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise GitOpsError(f"git {args[0]} failed: {' / '.join(detail[-3:]) or result.returncode}")
        return result

    def sync(self) -> None:
        """A checkout of the branch's current tip: cloned the first time, fetched and reset after."""
        branch = self.request.branch
        if (self.checkout / ".git").exists():
            origin = self.run("remote", "get-url", "origin", check=False).stdout.strip()
            if origin != self.request.repo:  # the spec points elsewhere now: start from a fresh clone
                shutil.rmtree(self.checkout)
        if not (self.checkout / ".git").exists():
            self.checkout.parent.mkdir(parents=True, exist_ok=True)
            self.run(
                "clone",
                "--quiet",
                "--branch",
                branch,
                self.request.repo,
                str(self.checkout),
                cwd=self.checkout.parent,
            )
            return
        self.run("fetch", "--quiet", "origin", branch)
        self.run("reset", "--quiet", "--hard", f"origin/{branch}")

    def find_marker(self) -> str | None:
        result = self.run("log", "--format=%H", "--fixed-strings", f"--grep={self.request.marker}", "-n", "1")
        return result.stdout.strip() or None

    def commit(self, path: str, message: str) -> str:
        author = f"{self.request.author_name} <{self.request.author_email}>"
        identity = [
            "-c",
            f"user.name={self.request.author_name}",
            "-c",
            f"user.email={self.request.author_email}",
        ]
        self.run("add", "--", path)
        self.run(*identity, "commit", "--quiet", f"--author={author}", "-m", message)
        return self.run("rev-parse", "HEAD").stdout.strip()

    def push(self) -> bool:
        """True when pushed; False when the branch moved on meanwhile (a retry starts from its tip)."""
        result = self.run("push", "--quiet", "origin", f"HEAD:{self.request.branch}", check=False)
        if result.returncode == 0:
            return True
        if (
            "rejected" in result.stderr
            or "fetch first" in result.stderr
            or "non-fast-forward" in result.stderr
        ):
            return False
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise GitOpsError(f"git push failed: {' / '.join(detail[-3:])}")
