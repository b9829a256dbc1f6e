"""The operator's EdgeNode status write, guarded so it never overwrites the hub's lease.

The hub writes the ``Ready`` condition (the lease) while the operator may be reconciling the same
node. ``conditions`` is one list in a merge patch, so a pass that built its list from an older
read would replace the hub's newer ``Ready`` with the one it read (or with none). The write
therefore carries the resourceVersion the pass read: if the hub wrote since, the API answers
409 and the pass is retried on the newer object instead of writing over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from naksha.errors import RetryableError
from naksha.kube import Conflict, KubeApi, NotFound
from naksha.models.resources import EDGE_NODES

# The hub writes at most every offlineAfter/4 per node, so a conflict is rare and the retry
# (on the newer object kopf has by then) soon finds the object unchanged.
RETRY_AFTER_CONFLICT_SECONDS = 1.0


def write_status(
    kube: KubeApi, namespace: str, name: str, resource_version: str | None, status: Mapping[str, Any]
) -> None:
    """Merge-patch ``status`` only if the object is still at ``resource_version``; retry otherwise."""
    patch: dict[str, Any] = {"status": dict(status)}
    if resource_version:
        patch["metadata"] = {"resourceVersion": resource_version}
    try:
        kube.merge_patch(EDGE_NODES, namespace, name, patch, status=True)
    except NotFound:
        return  # deleted meanwhile: nothing left to report on
    except Conflict as error:
        raise RetryableError(
            f"EdgeNode {namespace}/{name} changed while it was reconciled (the hub wrote its lease);"
            " reconciling it again",
            delay=RETRY_AFTER_CONFLICT_SECONDS,
        ) from error
