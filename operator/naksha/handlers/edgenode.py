"""EdgeNode handlers: reconcile on a spec change (the hub writes the lease itself).

The status is not written through kopf's patch but guarded by the resourceVersion read
(``naksha.controllers.edgenode.status``), so the pass never overwrites the hub's ``Ready``.
"""

from __future__ import annotations

from typing import Any

import kopf

from naksha.controllers.edgenode.status import write_status
from naksha.handlers.common import write_result
from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import EDGE_NODE
from naksha.reconcilers import edgenode
from naksha.reconcilers.context import ReconcileContext


@kopf.on.resume(GROUP, VERSION, EDGE_NODE.plural, id="reconcile")
@kopf.on.create(GROUP, VERSION, EDGE_NODE.plural, id="reconcile")
@kopf.on.update(GROUP, VERSION, EDGE_NODE.plural, id="reconcile", field="spec")
def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    context = ReconcileContext.from_body(EDGE_NODE, body, kube=memo["kube"], settings=memo["config"])
    read_version = str(body.get("metadata", {}).get("resourceVersion") or "") or None

    def write(done: ReconcileContext) -> None:
        write_status(done.api(), done.namespace, done.name, read_version, done.status_patch())

    write_result(body, patch, edgenode.reconcile, context, write=write)
