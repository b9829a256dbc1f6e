"""Rolling a Rollout back: record it, restore the stable revision, revert the spec and the repository.

Order matters for crash safety. The rollback is first written to the Rollout's status (what was
bad, what is restored, why). Then the spec is reverted to the stable template (the controller
then serves the stable revision again), and last the GitOps repository gets its revert commit.
A controller killed anywhere in between finds the recorded rollback on its next pass and
finishes it. Each rollback gets an id when it is recorded; the revert commit carries it as a
trailer, so an attempt that finds it on the remote knows this rollback already pushed it and
records that commit as its own (``status.rollback.gitops``: ``commit``, ``created``,
``alreadyPushed``) instead of pushing again (``naksha.controllers.rollout.gitops``).
"""

from __future__ import annotations

import base64
import logging
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from naksha.controllers.rollout.gitcache import redact
from naksha.controllers.rollout.gitops import GitOpsError, RevertRequest, revert_manifest
from naksha.domain.rollout.revisions import template_of
from naksha.domain.rollout.state import RolloutState
from naksha.kube import Kube, KubeError
from naksha.models.resources import ROLLOUTS, SECRETS
from naksha.models.rollout import RolloutSpec

logger = logging.getLogger(__name__)
GITOPS_RETRY_SECONDS = 15.0


def record(state: RolloutState, reason: str, why: str, now: float) -> dict[str, Any]:
    """Mark the current revision bad and describe the rollback about to happen."""
    bad = state.current_revision or ""
    if bad not in state.bad_revisions:
        state.bad_revisions.append(bad)
    state.rollback = {
        "badRevision": bad,
        "stableRevision": state.stable_revision,
        "reason": reason,
        "why": why,
        "at": now,
        "id": uuid.uuid4().hex[:16],
        "specReverted": False,
        "gitops": None,
    }
    return state.rollback


def revert_spec(kube: Kube, namespace: str, name: str, state: RolloutState) -> None:
    """Put the stable revision's template back in the Rollout's spec."""
    assert state.rollback is not None
    template = template_of(state.history, state.rollback["stableRevision"])
    if template is None:
        raise KubeError(
            500, "NoStableTemplate", f"revision {state.rollback['stableRevision']} is not in the history"
        )
    # A JSON patch replaces the template whole (a merge patch would keep fields only the bad one had).
    kube.json_patch(
        ROLLOUTS, namespace, name, [{"op": "replace", "path": "/spec/template", "value": template}]
    )
    state.rollback["specReverted"] = True


def commit_revert(
    kube: Kube, namespace: str, name: str, spec: RolloutSpec, state: RolloutState, now: float
) -> str | None:
    """Make sure the repository has the revert commit; returns git's error (and retries later) or None."""
    rollback = state.rollback
    if spec.gitops is None or rollback is None or "created" in (rollback.get("gitops") or {}):
        return None  # no GitOps, no rollback, or its outcome is recorded already
    attempt = rollback.get("gitops") or {}
    if attempt.get("error") and now < float(attempt.get("retryAt") or 0):
        return str(attempt["error"])
    template = template_of(state.history, rollback["stableRevision"])
    assert template is not None
    gitops = spec.gitops
    workdir = Path(tempfile.gettempdir()) / "naksha-gitops" / f"{namespace}-{name}"
    started = time.perf_counter()
    try:
        request = RevertRequest(
            repo=gitops.repo,
            branch=gitops.branch,
            path=gitops.path,
            namespace=namespace,
            name=name,
            bad_revision=str(rollback["badRevision"]),
            stable_revision=str(rollback["stableRevision"]),
            reason=str(rollback["reason"]),
            stable_template=template,
            author_name=gitops.author.name,
            author_email=gitops.author.email,
            rollback_id=rollback.get("id"),
            credentials=_credentials(kube, namespace, gitops.credentials_secret_ref.name)
            if gitops.credentials_secret_ref
            else None,
        )
        result = revert_manifest(request, workdir)
    except (GitOpsError, KubeError, OSError) as error:  # OSError: the cache's directory itself
        failures = int(attempt.get("failures") or 0) + 1
        logger.error(
            "GitOps revert of Rollout %s/%s (revision %s) to %s failed (attempt %d, next in %.0fs): %s",
            namespace,
            name,
            rollback["badRevision"],
            redact(gitops.repo),
            failures,
            GITOPS_RETRY_SECONDS,
            error,
        )
        rollback["gitops"] = {
            "error": str(error),
            "retryAt": now + GITOPS_RETRY_SECONDS,
            "failures": failures,
        }
        return str(error)
    rollback["gitops"] = {
        "commit": result.commit,
        "created": result.created,
        "alreadyPushed": result.already_pushed,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if attempt.get("failures"):
        rollback["gitops"]["failedAttempts"] = attempt["failures"]
    logger.info(
        "GitOps revert of Rollout %s/%s (revision %s): commit %s, created by this rollback: %s%s",
        namespace,
        name,
        rollback["badRevision"],
        result.commit,
        result.created,
        f" (cleared in the cache: {', '.join(result.recovered)})" if result.recovered else "",
    )
    return None


def _credentials(kube: Kube, namespace: str, secret: str) -> tuple[str, str]:
    data = kube.get(SECRETS, namespace, secret).get("data") or {}
    try:
        user = base64.b64decode(data.get("username", "")).decode() or "git"
        password = base64.b64decode(data.get("password") or data.get("token") or "").decode()
    except ValueError as error:
        raise GitOpsError(f"Secret {secret} holds undecodable credentials: {error}") from None
    if not password:
        raise GitOpsError(f"Secret {secret} has neither a password nor a token key")
    return user, password
