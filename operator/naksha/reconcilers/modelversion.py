"""ModelVersion reconciler: train in a Job, publish the verified artifact, judge, promote, demote.

``STEPS`` run on every change and on the handler's timer (the Job is watched by polling); each
step reads what earlier reconciliations left in status and does only what is still missing, so a
version trained once is never trained again. The training and the artifact's write happen in the
Job's pod; this reconciler publishes the artifact's sha256 only after reading the bytes back and
checking them (``controllers.modelversion.training.read_result``). Decisions are pure
(``domain.learning.promotion``); alias moves go through ``controllers.modelversion.aliases``,
atomic with exactly one holder. Retraining (``spec.retrain``) is the last step.

Steps assign the fields of ``ModelVersionStatus`` (``context.status``); the handler writes the
fields they assigned, once, and leaves the others as earlier passes wrote them. The training
result read in one step and judged in the next is carried in ``TrainingPass`` (``context.work``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from naksha.controllers.modelversion import aliases, retraining, training
from naksha.domain.learning import artifact as artifacts
from naksha.domain.learning.outcomes import rfc3339
from naksha.domain.learning.promotion import (
    Judgement,
    Threshold,
    Verdict,
    judge,
    promotion_action,
)
from naksha.models.conditions import ConditionType, Reason, find_condition
from naksha.models.modelversion import (
    ArtifactStatus,
    Lineage,
    MetricStatus,
    ModelVersionSpec,
    ModelVersionStatus,
    VerdictStatus,
)
from naksha.models.status import StatusPart
from naksha.reconcilers.admission import accept, validate_spec
from naksha.reconcilers.context import ReconcileContext, Step, run_steps

TRAINED = "Trained"
EVALUATED = "Evaluated"
INSUFFICIENT_DATA = "InsufficientData"
PROMOTED = "Promoted"
PHASE_TRAINING, PHASE_FAILED, PHASE_EVALUATED, PHASE_PROMOTED = "Training", "Failed", "Evaluated", "Promoted"
DEFAULT_PRIMARY = {"playbook-ranker": "resolved-rate", "detector-tuner": "f1"}
_VERDICT_REASONS = {
    Verdict.PASSED: Reason.EVALUATION_PASSED,
    Verdict.INSUFFICIENT_DATA: Reason.INSUFFICIENT_DATA,
    Verdict.BELOW_THRESHOLD: Reason.BELOW_THRESHOLD,
    Verdict.NO_IMPROVEMENT: Reason.NO_IMPROVEMENT,
}


@dataclass
class TrainingPass:
    """What one pass carries between steps besides the status: the training result just read."""

    result: dict[str, Any] | None = None

    @staticmethod
    def of(context: ReconcileContext) -> TrainingPass:
        if not isinstance(context.work, TrainingPass):
            context.work = TrainingPass()
        return context.work


def spec_of(context: ReconcileContext) -> ModelVersionSpec:
    assert isinstance(context.spec, ModelVersionSpec)  # validate_spec ran first
    return context.spec


def status_of(context: ReconcileContext) -> ModelVersionStatus:
    return cast(ModelVersionStatus, context.status)


def collect_training(context: ReconcileContext) -> None:
    """Start the Job if needed; once it is done, publish its verified artifact and lineage."""
    old = context.old_status
    if old.get("phase") == PHASE_FAILED:
        context.halt()
        return
    if old.get("artifact") and old.get("verdict"):
        return  # trained and judged by an earlier reconciliation
    spec = spec_of(context)
    kube = context.api()
    job = training.ensure_job(
        kube,
        namespace=context.namespace,
        version=context.name,
        spec=spec,
        owner=context.owner_reference(),
        settings=context.settings,
    )
    status = status_of(context)
    status.job = job
    try:
        output = training.read_result(kube, context.namespace, context.name)
    except artifacts.ArtifactCorrupt as error:
        _fail(context, Reason.ARTIFACT_CORRUPT, f"the trained artifact was not published: {error}")
        return
    if output is None:
        state = training.job_state(kube, context.namespace, job)
        if state.failure:
            _fail(context, Reason.TRAINING_FAILED, f"Job {job} gave up: {state.failure}")
            return
        context.phase = PHASE_TRAINING
        retries = f" ({state.failed_pods} failed pod(s) retried)" if state.failed_pods else ""
        context.set_condition(TRAINED, "False", Reason.TRAINING, f"Job {job} is training{retries}")
        if context.condition_changed(TRAINED):
            context.event("Normal", Reason.TRAINING, f"Training in Job {job}.")
        context.halt()
        return
    result = output.result
    if result.get("error"):
        _fail(context, Reason.TRAINING_FAILED, f"training could not be done: {result['error']}")
        return
    status.artifact = ArtifactStatus(
        config_map=output.config_map,
        key=artifacts.ARTIFACT_KEY,
        sha256=result["sha256"],
        size_bytes=output.size,
    )
    status.lineage = Lineage.model_validate(result["lineage"])
    TrainingPass.of(context).result = result  # judged by the next step, never written
    context.set_condition(
        TRAINED, "True", Reason.TRAINED, f"artifact {output.config_map} sha256 {result['sha256'][:12]}"
    )
    context.event(
        "Normal", Reason.TRAINED, f"Trained on {result['lineage']['samples']} records; artifact published."
    )


def evaluate(context: ReconcileContext) -> None:
    """Judge the new result against the thresholds and the alias holder's figures (once)."""
    result = TrainingPass.of(context).result
    if result is None:
        return
    status = status_of(context)
    spec = spec_of(context)
    thresholds = [Threshold(m.name, m.threshold, m.direction) for m in spec.evaluation.metrics]
    primary = thresholds[0].name if thresholds else DEFAULT_PRIMARY[spec.trainer.algorithm]
    metrics: dict[str, float | None] = result.get("metrics") or {}
    holder_metrics = result.get("holderMetrics")
    lineage = result["lineage"]
    judgement = judge(
        metrics,
        holder_metrics,
        thresholds,
        samples=int(lineage["samples"]),
        holdout=int(lineage["holdout"]),
        min_samples=spec.source.min_samples,
        require_improvement=spec.promotion.require_improvement,
        margin=spec.promotion.margin,
        primary=primary,
    )
    rows = _metric_rows(metrics, holder_metrics, result.get("baselineMetrics") or {}, judgement)
    status.metrics = [MetricStatus.model_validate(row) for row in rows]
    status.verdict = VerdictStatus(
        result=str(judgement.verdict),
        message=judgement.message,
        evaluation=result.get("evaluation") or {},
        holder=result.get("holder"),
    )
    reason = _VERDICT_REASONS[judgement.verdict]
    context.set_condition(EVALUATED, "True" if judgement.passed else "False", reason, judgement.message)
    insufficient = judgement.verdict is Verdict.INSUFFICIENT_DATA
    context.set_condition(
        INSUFFICIENT_DATA,
        "True" if insufficient else "False",
        Reason.INSUFFICIENT_DATA if insufficient else Reason.EVALUATION_PASSED,
        judgement.message if insufficient else "enough data",
    )
    context.event("Normal" if judgement.passed else "Warning", reason, judgement.message)


def promote(context: ReconcileContext) -> None:
    """``policy: auto`` moves the alias to a passed version once; ``manual`` waits for the command."""
    spec, status = spec_of(context), status_of(context)
    verdict = _part(status.verdict) or context.old_status.get("verdict") or {}
    if not verdict or context.old_status.get("promotedAt"):
        return  # promoted before: a later rollback must not be undone by the auto policy
    kube = context.api()
    current = aliases.read_aliases(kube, context.namespace, spec.model).get(spec.promotion.alias)
    holds = current is not None and current.holder.version == context.name
    judgement = Judgement(Verdict(verdict["result"]), verdict["message"])
    action = promotion_action(spec.promotion.policy, judgement, holds_alias=holds)
    if action == "await-approval":
        context.set_condition(
            ConditionType.AWAITING_APPROVAL,
            "True",
            Reason.AWAITING_PROMOTION,
            f"run `naksha model promote {context.name} -n {context.namespace}`"
            f" to give it {spec.promotion.alias}",
        )
        return
    if action != "promote":
        return
    artifact = _part(status.artifact) or context.old_status.get("artifact") or {}
    holder = aliases.Holder(context.name, artifact["configMap"], artifact["sha256"], time.time())
    entry = aliases.move_if_held_by(
        kube, context.namespace, spec.model, spec.promotion.alias, holder, verdict.get("holder")
    )
    if entry is not None and entry.holder.version == context.name:
        status.promoted_at = rfc3339(time.time())
        context.event(
            "Normal", Reason.PROMOTED, f"{spec.promotion.alias} of {spec.model} moved to {context.name}."
        )
    else:
        held = entry.holder.version if entry else "nobody"
        context.set_condition(
            ConditionType.AWAITING_APPROVAL,
            "True",
            Reason.AWAITING_PROMOTION,
            f"judged against {verdict.get('holder') or 'no holder'}, but {held} holds"
            f" {spec.promotion.alias} now; promote it by hand if it should win",
        )


def show_aliases(context: ReconcileContext) -> None:
    """Which aliases this version holds now (the CLI and other versions move them too)."""
    spec, status = spec_of(context), status_of(context)
    held = sorted(
        alias
        for alias, entry in aliases.read_aliases(context.api(), context.namespace, spec.model).items()
        if entry.holder.version == context.name
    )
    status.aliases = held
    had = context.old_status.get("aliases") or []
    if held:
        context.phase = PHASE_PROMOTED
        context.clear_condition(ConditionType.AWAITING_APPROVAL)
        context.set_condition(PROMOTED, "True", Reason.PROMOTED, f"holds {', '.join(held)}")
    else:
        context.phase = PHASE_EVALUATED
        previously = find_condition(context.conditions, PROMOTED) or {}
        demoted = previously.get("status") == "False" and previously.get("reason") == Reason.DEMOTED
        promoted_once = context.old_status.get("promotedAt") or status.promoted_at
        if (had or promoted_once) and not demoted:  # a demotion keeps its own reason
            context.set_condition(
                PROMOTED, "False", Reason.ALIAS_MOVED, "another version holds the alias now"
            )
    if set(had) - set(held):
        context.event(
            "Normal", Reason.ALIAS_MOVED, f"no longer holds {', '.join(sorted(set(had) - set(held)))}"
        )


def demote(context: ReconcileContext) -> None:
    """Auto-demote: give the alias back when this version does worse live than its predecessor."""
    spec, status = spec_of(context), status_of(context)
    if spec.promotion.auto_demote is None or spec.promotion.alias not in (status.aliases or []):
        return
    decision = retraining.demotion(context.api(), context.namespace, spec, context.name)
    if decision is None:
        return
    status.aliases = [a for a in status.aliases or [] if a != spec.promotion.alias]
    context.phase = PHASE_EVALUATED
    context.set_condition(PROMOTED, "False", Reason.DEMOTED, decision)
    context.event("Warning", Reason.DEMOTED, decision)


def retrain(context: ReconcileContext) -> None:
    """Create the model's next version when ``spec.retrain`` says it is due (and keep the history)."""
    spec, status = spec_of(context), status_of(context)
    if spec.retrain is None or not (status.verdict or context.old_status.get("verdict")):
        return
    created = retraining.maybe_retrain(
        context.api(), context.namespace, context.name, spec, context.old_status, time.time()
    )
    if created:
        status.retrained_as = created
        context.event("Normal", Reason.RETRAINED, f"created the next version {created}")


STEPS: tuple[Step, ...] = (
    validate_spec,
    accept,
    collect_training,
    evaluate,
    promote,
    show_aliases,
    demote,
    retrain,
)


def reconcile(context: ReconcileContext) -> ReconcileContext:
    return run_steps(context, STEPS)


def _fail(context: ReconcileContext, reason: Reason, message: str) -> None:
    context.phase = PHASE_FAILED
    status_of(context).message = message
    context.set_condition(TRAINED, "False", reason, message)
    context.event("Warning", reason, message)
    context.halt()


def _part(part: StatusPart | None) -> dict[str, Any]:
    """A status part built by this pass, as it will be written (empty when no step built it)."""
    return part.plain() if part is not None else {}


def _metric_rows(
    metrics: dict[str, float | None],
    holder: dict[str, float | None] | None,
    baseline: dict[str, float | None],
    judgement: Judgement,
) -> list[dict[str, Any]]:
    checks = {c.name: c for c in judgement.checks}
    rows = []
    for name in sorted(set(metrics) | set(checks)):
        row: dict[str, Any] = {"name": name, "value": metrics.get(name)}
        if holder is not None:
            row["holder"] = holder.get(name)
        if name in baseline:
            row["baseline"] = baseline[name]
        if name in checks:
            row.update(
                threshold=checks[name].threshold, direction=checks[name].direction, passed=checks[name].passed
            )
        rows.append(row)
    return rows
