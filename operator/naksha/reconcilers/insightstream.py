"""InsightStream reconciliation: admit the spec, run its workers, report what they see.

Steps, in order: validate the spec; apply the workers' ServiceAccount, Role and RoleBinding
(``naksha.workloads.identity``), their Deployment and Service (all owned by the stream, so
deleting it removes them); observe the Deployment's readiness; fold the workers'
own reports (``status.workers.<pod>``, each worker patching only its own entry) into totals,
the last anomaly per detector, and a ``Degraded`` condition when a worker cannot reach its
source.

The counters a user reads never go back. Workers report counts per shard (a Kafka partition,
a Redis consumer, an HTTP worker process), as of the shard's last checkpoint, so a record
replayed after a crash is counted once. The operator keeps the highest count seen per shard in
``status.shards``; a shard that ends with its pod (Redis consumer, HTTP process) is folded into
``status.retired`` once that pod is gone. The totals are ``retired`` plus every shard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from naksha.controllers import insightstream as workers
from naksha.kube import KubeError
from naksha.models.conditions import ConditionType, Reason
from naksha.models.insightstream import DetectorLive, InsightStreamSpec, InsightStreamStatus, ShardCounts
from naksha.reconcilers import admission
from naksha.reconcilers.context import ReconcileContext, Step, run_steps
from naksha.services.insight.checkpoint import COUNTERS
from naksha.workloads.identity import (
    build_identity,
    build_review_binding,
    review_binding_name,
    worker_rules,
)
from naksha.workloads.insight import (
    build_worker_deployment,
    build_worker_service,
    worker_labels,
    worker_name,
)

PHASE_RUNNING = "Running"
PHASE_PROGRESSING = "Progressing"
PHASE_DEGRADED = "Degraded"
PHASE_SCALED_DOWN = "ScaledDown"
RETIRED_MEMORY = 256


def ensure_workers(context: ReconcileContext) -> None:
    spec = cast(InsightStreamSpec, context.spec)
    account = worker_name(context.name)
    objects = (
        *build_identity(
            name=account,
            namespace=context.namespace,
            rules=worker_rules(context.name, follows_models=any(d.model for d in spec.detectors)),
            labels=worker_labels(context.name),
        ),
        build_worker_deployment(
            name=context.name,
            namespace=context.namespace,
            spec=spec,
            image=context.settings.image,
            service_account=account,
        ),
        build_worker_service(name=context.name, namespace=context.namespace, spec=spec),
    )
    for obj in objects:
        obj["metadata"]["ownerReferences"] = [context.owner_reference()]
    try:
        workers.apply_objects(context.api(), objects)
        if reviews_callers(spec):
            binding = build_review_binding(
                namespace=context.namespace,
                stream=context.name,
                account=account,
                labels=worker_labels(context.name),
            )
            workers.apply_objects(context.api(), [binding])
        else:
            workers.forget_review_binding(context.api(), context.namespace, context.name)
    except (workers.ApplyFailed, KubeError) as failure:
        bound = f"ClusterRoleBinding {review_binding_name(context.namespace, context.name)}"
        message = (
            str(failure)
            if isinstance(failure, workers.ApplyFailed)
            else f"applying {bound} failed: {failure}"
        )
        context.phase = PHASE_DEGRADED
        context.set_condition(ConditionType.DEGRADED, "True", Reason.WORKLOAD_APPLY_FAILED, message)
        context.event("Warning", Reason.WORKLOAD_APPLY_FAILED, message)
        context.retry_after = 10.0
        context.halt()
        return


def reviews_callers(spec: InsightStreamSpec) -> bool:
    """Whether the stream's workers review their callers' tokens: HTTP push workers do, for ``/ingest``
    with ``auth: kubernetes`` and for ``GET /history`` (the ring of accepted samples) always."""
    return spec.source.type == "http"


def observe_workers(context: ReconcileContext) -> None:
    spec = cast(InsightStreamSpec, context.spec)
    try:
        deployment = workers.read_workers(context.api(), context.namespace, context.name)
    except KubeError as error:
        context.set_condition(ConditionType.READY, "False", Reason.WORKERS_UNKNOWN, str(error))
        context.retry_after = 10.0
        return
    status = deployment.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    status = _status(context)
    status.replicas = spec.replicas
    status.ready_replicas = ready
    if spec.replicas == 0:
        context.phase = PHASE_SCALED_DOWN
        context.set_condition(ConditionType.READY, "False", Reason.SCALED_DOWN, "spec.replicas is 0")
    elif ready >= spec.replicas:
        context.phase = PHASE_RUNNING
        context.set_condition(
            ConditionType.READY, "True", Reason.WORKERS_READY, f"{ready}/{spec.replicas} workers ready"
        )
        context.clear_condition(ConditionType.PROGRESSING)
    else:
        context.phase = PHASE_PROGRESSING
        message = f"{ready}/{spec.replicas} workers ready"
        context.set_condition(ConditionType.READY, "False", Reason.WORKERS_STARTING, message)
        context.set_condition(ConditionType.PROGRESSING, "True", Reason.WORKERS_STARTING, message)


def summarize_reports(context: ReconcileContext) -> None:
    reports: Mapping[str, Any] = {
        pod: report
        for pod, report in (context.old_status.get("workers") or {}).items()
        if isinstance(report, Mapping)
    }
    live = _live_pods(context)
    stale = [pod for pod in reports if live is not None and pod not in live]
    current = {pod: report for pod, report in reports.items() if pod not in stale}
    status = _status(context)
    if stale:
        # A merge patch removes a key only when it is explicitly null; live workers' entries are
        # theirs (each worker writes its own), so only the stale ones are mentioned.
        status.workers = dict.fromkeys(stale)
    previous = context.old_status.get("shards") or {}
    retired = context.old_status.get("retired")
    if retired is None and not previous:
        # A status written before counts were kept per shard: its totals carry on as retired.
        retired = {counter: context.old_status.get(counter) for counter in COUNTERS}
    # Stale reports are folded too: a departed pod's last counts must not be lost.
    folded = fold_counts(
        previous,
        retired,
        list(context.old_status.get("retiredShards") or []),
        reports,
        live,
    )
    shards = folded.shards
    status.shards = {
        **dict.fromkeys(set(previous) - set(shards)),
        **{shard: ShardCounts.read(entry) for shard, entry in shards.items()},
    }
    status.retired = ShardCounts.read(folded.retired)
    status.retired_shards = folded.retired_shards
    live_totals = summarize(current.values())
    status.lag = live_totals["lag"]
    status.last_anomaly = live_totals["lastAnomaly"]
    status.detectors = {name: DetectorLive.read(state) for name, state in live_totals["detectors"].items()}
    totals = {
        counter: folded.retired[counter] + sum(entry[counter] for entry in shards.values())
        for counter in COUNTERS
    }
    status.ingested, status.rejected = totals["ingested"], totals["rejected"]
    status.dead_lettered, status.anomalies = totals["deadLettered"], totals["anomalies"]
    status.agent_runs = totals["agentRuns"]
    for key, reason in (
        ("sourceError", Reason.SOURCE_UNREACHABLE),
        ("checkpointError", Reason.CHECKPOINT_FAILING),
    ):
        errors = sorted({str(r[key]) for r in current.values() if r.get(key)})
        if errors:
            message = "; ".join(errors)
            context.phase = PHASE_DEGRADED
            context.set_condition(ConditionType.DEGRADED, "True", reason, message)
            if context.condition_changed(ConditionType.DEGRADED):
                context.event("Warning", reason, message)
            return
    context.clear_condition(ConditionType.DEGRADED)


@dataclass
class FoldedCounts:
    shards: dict[str, dict[str, Any]]  # shard -> counters (and "pod" when it ends with its pod)
    retired: dict[str, int]  # counts of shards whose pod is gone
    retired_shards: list[str]  # the most recently retired shards, never counted again


def fold_counts(
    previous: Mapping[str, Any],
    retired: Mapping[str, Any] | None,
    retired_shards: list[str],
    reports: Mapping[str, Mapping[str, Any]],
    live: set[str] | None,
) -> FoldedCounts:
    """The shards' counts after these reports (the highest seen, per shard and counter), and the
    retired totals after folding in the shards whose pod is gone (``live`` None: unknown, keep all).

    A retired shard's name is remembered (the last ``RETIRED_MEMORY``) so a late report from its
    worker cannot count it twice."""
    gone = set(retired_shards)
    shards: dict[str, dict[str, Any]] = {
        shard: {**dict(entry), **{c: _count(entry, c) for c in COUNTERS}}
        for shard, entry in previous.items()
        if isinstance(entry, Mapping)
    }
    for pod, report in reports.items():
        bound = bool(report.get("shardsEndWithPod"))
        for shard, counts in (report.get("shards") or {}).items():
            if not isinstance(counts, Mapping) or shard in gone:
                continue
            entry = shards.setdefault(shard, {c: 0 for c in COUNTERS})
            for counter in COUNTERS:
                entry[counter] = max(entry[counter], _count(counts, counter))
            if bound:
                entry["pod"] = pod
    folded = {counter: _count(retired or {}, counter) for counter in COUNTERS}
    if live is not None:
        for shard in [s for s, entry in shards.items() if entry.get("pod") and entry["pod"] not in live]:
            entry = shards.pop(shard)
            for counter in COUNTERS:
                folded[counter] += entry[counter]
            retired_shards.append(shard)
    return FoldedCounts(shards, folded, retired_shards[-RETIRED_MEMORY:])


def _count(counts: Mapping[str, Any], counter: str) -> int:
    value = counts.get(counter)
    return value if isinstance(value, int) and value > 0 else 0


def summarize(reports: Any) -> dict[str, Any]:
    """Across live worker reports: series in incident summed, the highest detector score of the
    workers' last batches, lag the worst, the newest anomalies."""
    totals: dict[str, Any] = {}
    lags: list[float] = []
    last: dict[str, dict[str, Any]] = {}
    live: dict[str, dict[str, Any]] = {}
    for report in reports:
        if report.get("lag") is not None:
            lags.append(float(report["lag"]))
        for detector, state in (report.get("detectors") or {}).items():
            entry = live.setdefault(detector, {"active": 0, "score": 0.0})
            entry["active"] += int((state or {}).get("active") or 0)
            entry["score"] = max(entry["score"], float((state or {}).get("score") or 0.0))
        for detector, anomaly in (report.get("lastAnomaly") or {}).items():
            if detector not in last or str(anomaly.get("detectedAt", "")) > str(
                last[detector].get("detectedAt", "")
            ):
                last[detector] = dict(anomaly)
    totals["lag"] = max(lags) if lags else None
    totals["lastAnomaly"] = last
    totals["detectors"] = live
    return totals


def _status(context: ReconcileContext) -> InsightStreamStatus:
    """The stream's status being built (the context holds the kind's status model)."""
    return cast(InsightStreamStatus, context.status)


def _live_pods(context: ReconcileContext) -> set[str] | None:
    """Unknown (None) when the pods cannot be listed: then every report is kept, none dropped."""
    return workers.live_pods(context.api(), context.namespace, context.name)


STEPS: tuple[Step, ...] = (*admission.STEPS, ensure_workers, observe_workers, summarize_reports)
REFRESH_STEPS: tuple[Step, ...] = (admission.validate_spec, observe_workers, summarize_reports)


def reconcile(context: ReconcileContext) -> ReconcileContext:
    return run_steps(context, STEPS)


def refresh(context: ReconcileContext) -> ReconcileContext:
    """The periodic pass: readiness and worker reports only (the workloads are already applied)."""
    return run_steps(context, REFRESH_STEPS)
