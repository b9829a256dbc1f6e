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

from naksha.controllers.rollout.gitcache import redact
from naksha.controllers.rollout.gitops import GitOpsError, RevertRequest, revert_manifest
from naksha.domain.rollout.revisions import template_of
from naksha.kube import KubeApi, KubeError
from naksha.models.conditions import Reason
from naksha.models.resources import ROLLOUTS, SECRETS
from naksha.models.rollout import GitOpsOutcome, RollbackRecord, RolloutSpec, RolloutStatus

logger = logging.getLogger(__name__)
GITOPS_RETRY_SECONDS = 15.0
KEPT_BAD_REVISIONS = 20


def record(status: RolloutStatus, reason: str, why: Reason, now: float) -> RollbackRecord:
    """Mark the current revision bad and describe the rollback about to happen."""
    bad = status.current_revision or ""
    if bad not in status.bad_revisions:
        status.bad_revisions = [*status.bad_revisions, bad][-KEPT_BAD_REVISIONS:]
    status.rollback = RollbackRecord(
        bad_revision=bad,
        stable_revision=status.stable_revision,
        reason=reason,
        why=why,
        at=now,
        id=uuid.uuid4().hex[:16],
        spec_reverted=False,
        gitops=None,
    )
    return status.rollback


def revert_spec(kube: KubeApi, namespace: str, name: str, status: RolloutStatus) -> None:
    """Put the stable revision's template back in the Rollout's spec."""
    rollback = status.rollback
    assert rollback is not None
    template = template_of(status.revisions, rollback.stable_revision)
    if template is None:
        raise KubeError(500, "NoStableTemplate", f"revision {rollback.stable_revision} is not in the history")
    # A JSON patch replaces the template whole (a merge patch would keep fields only the bad one had).
    kube.json_patch(
        ROLLOUTS, namespace, name, [{"op": "replace", "path": "/spec/template", "value": template}]
    )
    rollback.spec_reverted = True


def commit_revert(
    kube: KubeApi, namespace: str, name: str, spec: RolloutSpec, status: RolloutStatus, now: float
) -> str | None:
    """Make sure the repository has the revert commit; returns git's error (and retries later) or None."""
    rollback = status.rollback
    if spec.gitops is None or rollback is None or (rollback.gitops is not None and rollback.gitops.settled):
        return None  # no GitOps, no rollback, or its outcome is recorded already
    attempt = rollback.gitops or GitOpsOutcome()
    if attempt.error and now < float(attempt.retry_at or 0):
        return attempt.error
    template = template_of(status.revisions, rollback.stable_revision)
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
            bad_revision=rollback.bad_revision,
            stable_revision=str(rollback.stable_revision),
            reason=rollback.reason,
            stable_template=template,
            author_name=gitops.author.name,
            author_email=gitops.author.email,
            rollback_id=rollback.id,
            credentials=_credentials(kube, namespace, gitops.credentials_secret_ref.name)
            if gitops.credentials_secret_ref
            else None,
        )
        result = revert_manifest(request, workdir)
    except (GitOpsError, KubeError, OSError) as error:  # OSError: the cache's directory itself
        failures = int(attempt.failures or 0) + 1
        logger.error(
            "GitOps revert of Rollout %s/%s (revision %s) to %s failed (attempt %d, next in %.0fs): %s",
            namespace,
            name,
            rollback.bad_revision,
            redact(gitops.repo),
            failures,
            GITOPS_RETRY_SECONDS,
            error,
        )
        rollback.gitops = GitOpsOutcome(
            error=str(error), retry_at=now + GITOPS_RETRY_SECONDS, failures=failures
        )
        return str(error)
    rollback.gitops = GitOpsOutcome(
        commit=result.commit,
        created=result.created,
        already_pushed=result.already_pushed,
        seconds=round(time.perf_counter() - started, 3),
        failed_attempts=attempt.failures or None,
    )
    logger.info(
        "GitOps revert of Rollout %s/%s (revision %s): commit %s, created by this rollback: %s%s",
        namespace,
        name,
        rollback.bad_revision,
        result.commit,
        result.created,
        f" (cleared in the cache: {', '.join(result.recovered)})" if result.recovered else "",
    )
    return None


def _credentials(kube: KubeApi, namespace: str, secret: str) -> tuple[str, str]:
    data = kube.get(SECRETS, namespace, secret).get("data") or {}
    try:
        user = base64.b64decode(data.get("username", "")).decode() or "git"
        password = base64.b64decode(data.get("password") or data.get("token") or "").decode()
    except ValueError as error:
        raise GitOpsError(f"Secret {secret} holds undecodable credentials: {error}") from None
    if not password:
        raise GitOpsError(f"Secret {secret} has neither a password nor a token key")
    return user, password
