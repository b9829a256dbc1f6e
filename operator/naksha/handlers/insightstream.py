"""InsightStream handlers: reconcile on change, refresh readiness and worker reports on a timer."""

from __future__ import annotations

from typing import Any

import kopf

from naksha.handlers.common import write_result
from naksha.models.group import GROUP, VERSION
from naksha.models.kinds import INSIGHT_STREAM
from naksha.reconcilers import insightstream
from naksha.reconcilers.context import ReconcileContext

REFRESH_SECONDS = 5.0


@kopf.on.resume(GROUP, VERSION, INSIGHT_STREAM.plural, id="reconcile")
@kopf.on.create(GROUP, VERSION, INSIGHT_STREAM.plural, id="reconcile")
@kopf.on.update(GROUP, VERSION, INSIGHT_STREAM.plural, id="reconcile", field="spec")
def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    context = ReconcileContext.from_body(INSIGHT_STREAM, body, kube=memo["kube"], settings=memo["config"])
    write_result(body, patch, insightstream.reconcile, context)


# No ``idle``: workers report every few seconds while records flow, and an idle timer would wait
# for the reports to stop before folding them, leaving the totals stale under steady load.
@kopf.timer(GROUP, VERSION, INSIGHT_STREAM.plural, id="refresh", interval=REFRESH_SECONDS)
def refresh(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    context = ReconcileContext.from_body(INSIGHT_STREAM, body, kube=memo["kube"], settings=memo["config"])
    write_result(body, patch, insightstream.refresh, context, count=False)
