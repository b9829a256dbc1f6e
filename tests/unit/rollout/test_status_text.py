"""`naksha rollout status` says whose revert commit the rollback recorded, or why it keeps failing."""

from __future__ import annotations

from typing import Any

from naksha.cli.rollout import describe


def rolled_back(gitops: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "shop", "namespace": "prod"},
        "status": {
            "phase": "RolledBack",
            "rollback": {
                "badRevision": "7f3a",
                "stableRevision": "5c21",
                "reason": "errors",
                "gitops": gitops,
            },
        },
    }


def test_a_commit_made_by_this_rollback_is_said_to_be_its_own():
    text = describe(rolled_back({"commit": "abc123", "created": True, "alreadyPushed": True}))
    assert "GitOps    revert commit abc123 (made by this rollback)" in text


def test_an_earlier_rollbacks_commit_is_said_to_be_that():
    assert "(an earlier rollback's)" in describe(rolled_back({"commit": "abc123", "created": False}))


def test_a_failing_revert_shows_gits_reason_and_how_often_it_failed():
    text = describe(rolled_back({"error": "git fetch failed: fatal: unreachable", "failures": 3}))
    assert "GitOps    failing (3x): git fetch failed: fatal: unreachable" in text
