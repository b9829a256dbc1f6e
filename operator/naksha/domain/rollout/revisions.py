"""Revisions of a Rollout: a short hash of its pod template, and the history kept in status.

The history holds the templates of the revisions that were stable, newest last, at most
``revisionHistoryLimit + 1`` of them: that is where a rollback finds the template it restores
(in the cluster and in the GitOps repository).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from naksha.workloads.naming import spec_hash

REVISION_LENGTH = 10


def revision_of(template: Mapping[str, Any]) -> str:
    return spec_hash(template)[:REVISION_LENGTH]


def remember(
    history: Sequence[Mapping[str, Any]], revision: str, template: Mapping[str, Any], limit: int
) -> list[dict[str, Any]]:
    """The history with ``revision`` as the newest entry (moved there if it was known)."""
    kept = [dict(entry) for entry in history if entry.get("revision") != revision]
    kept.append({"revision": revision, "template": dict(template)})
    return kept[-(limit + 1) :]


def template_of(history: Sequence[Mapping[str, Any]], revision: str | None) -> dict[str, Any] | None:
    for entry in reversed(history):
        if entry.get("revision") == revision:
            return dict(entry.get("template") or {})
    return None
