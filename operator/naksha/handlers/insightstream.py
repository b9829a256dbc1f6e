"""InsightStream handlers: reconcile on change, refresh readiness and worker reports on a timer."""

from __future__ import annotations

from typing import Any

import kopf

from naksha.handlers.common import kopf_errors, write_result
from naksha.models.group import GROUP, VERSION
from naksha.models.insightstream import InsightStreamSpec
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


def _reviews_callers(spec: kopf.Spec, **_: Any) -> bool:
    try:
        return insightstream.reviews_callers(InsightStreamSpec.model_validate(dict(spec)))
    except ValueError:
        return False  # an invalid spec never got workers, so never a binding


# Not optional: a cluster-scoped binding outlives its namespaced stream unless the operator deletes
# it, so kopf holds such a stream (a finalizer) until this ran. Other streams get no finalizer.
@kopf.on.delete(GROUP, VERSION, INSIGHT_STREAM.plural, id="forget-review-binding", when=_reviews_callers)
def forget_review_binding(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    with kopf_errors():
        insightstream.forget_review_binding(memo["kube"], namespace or "", name)
