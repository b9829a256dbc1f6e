"""Status conditions: one vocabulary for every kind, and helpers that set them correctly.

A condition only changes ``lastTransitionTime`` when its status flips, as Kubernetes
conventions require, so ``kubectl wait`` and dashboards see real transitions only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from naksha.models import timestamps


class ConditionType(enum.StrEnum):
    """Condition types shared across kinds (kind-specific ones extend this list)."""

    READY = "Ready"
    ACCEPTED = "Accepted"
    INVALID_SPEC = "InvalidSpec"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"
    AWAITING_APPROVAL = "AwaitingApproval"
    COMPLETED = "Completed"
    REFUSED = "Refused"


class Reason(enum.StrEnum):
    """Every machine-readable reason used in conditions and Events, one block per kind.

    A kind's phases double as reasons where a condition reports the phase itself (the Rollout's
    ``Progressing``, an AgentRun's ``Completed``); they are listed in its block.
    """

    # every kind: admission
    SPEC_VALID = "SpecValid"
    SPEC_INVALID = "SpecInvalid"
    AWAITING_CONTROLLER = "AwaitingController"
    # EdgeNode (the federation hub's lease and registration decisions)
    NODE_REGISTERED = "NodeRegistered"
    NODE_AWAITING_APPROVAL = "NodeAwaitingApproval"
    HEARTBEAT_RECEIVED = "HeartbeatReceived"
    HEARTBEAT_MISSED = "HeartbeatMissed"
    NODE_LOST = "NodeLost"
    NODE_REVOKED = "NodeRevoked"
    NOT_REGISTERED = "NotRegistered"
    TRIGGER_COUNT_FAILED = "TriggerCountFailed"

    # InsightStream
    WORKLOAD_APPLY_FAILED = "WorkloadApplyFailed"
    WORKERS_UNKNOWN = "WorkersUnknown"
    WORKERS_READY = "WorkersReady"
    WORKERS_STARTING = "WorkersStarting"
    SCALED_DOWN = "ScaledDown"
    SOURCE_UNREACHABLE = "SourceUnreachable"
    CHECKPOINT_FAILING = "CheckpointFailing"

    # AgentRun: progress and endings
    RUNNING = "Running"
    APPROVAL_REQUIRED = "ApprovalRequired"
    JOB_PENDING = "JobPending"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    REJECTED = "Rejected"
    REFUSED = "Refused"
    RUN_TIMEOUT = "RunTimeout"
    APPROVAL_TIMEOUT = "ApprovalTimeout"
    INVALID_PLAYBOOK = "InvalidPlaybook"
    EXECUTOR_FAILED = "ExecutorFailed"
    # AgentRun: guardrail refusals
    NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
    CROSS_NAMESPACE_TARGET = "CrossNamespaceTarget"
    KIND_NOT_ALLOWED = "KindNotAllowed"
    TARGET_NOT_FOUND = "TargetNotFound"
    TARGET_BUSY = "TargetBusy"
    RATE_LIMITED = "RateLimited"
    KILL_SWITCH = "KillSwitch"

    # Rollout: phases (the Progressing condition's reason), rollbacks and their causes, Events
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    ANALYSIS_FAILED = "AnalysisFailed"
    GITOPS_REVERT_FAILED = "GitOpsRevertFailed"
    ROLLOUT_STARTED = "RolloutStarted"
    PROMOTED = "Promoted"
    RETRY = "Retry"
    # ModelVersion
    TRAINING = "Training"
    TRAINED = "Trained"
    TRAINING_FAILED = "TrainingFailed"
    ARTIFACT_CORRUPT = "ArtifactCorrupt"
    INSUFFICIENT_DATA = "InsufficientData"
    BELOW_THRESHOLD = "BelowThreshold"
    NO_IMPROVEMENT = "NoImprovement"
    EVALUATION_PASSED = "EvaluationPassed"
    AWAITING_PROMOTION = "AwaitingPromotion"
    ALIAS_MOVED = "AliasMoved"
    DEMOTED = "Demoted"
    RETRAINED = "Retrained"

    # ChaosExperiment
    CHAOS_NOT_OPTED_IN = "NamespaceNotOptedIn"
    CHAOS_RUN_STARTED = "RunStarted"
    CHAOS_RUN_SKIPPED = "RunSkipped"
    CHAOS_INJECTED = "FaultInjected"
    CHAOS_RESTORED = "FaultRestored"
    CHAOS_RESTORE_FAILED = "RestoreFailed"
    CHAOS_VERDICT = "VerdictReached"
    CHAOS_IDLE = "Idle"
    CHAOS_STEADY_STATE_BEFORE = "SteadyStateBefore"
    CHAOS_STEADY_STATE_MET = "SteadyStateMet"
    CHAOS_STEADY_STATE_NOT_MET = "SteadyStateNotMet"
    CHAOS_RECOVERED = "Recover"
    CHAOS_REMEDIATION = "Remediation"
    CHAOS_PASSED = "Passed"
    CHAOS_SKIPPED = "Skipped"
    CHAOS_STOPPED = "Stopped"
    CHAOS_INCIDENT_ONGOING = "IncidentOngoing"
    CHAOS_NO_TARGET = "NoTarget"
    CHAOS_BLAST_RADIUS_EXCEEDED = "BlastRadiusExceeded"
    CHAOS_RESUMED = "Resumed"
    CHAOS_DURATION_ELAPSED = "DurationElapsed"
    CHAOS_RESTORE_RETRIED = "RestoreRetried"
    # ChaosExperiment: why a run starts, or a firing is skipped
    CHAOS_COMMAND = "Command"
    CHAOS_CREATED = "Created"
    CHAOS_SCHEDULED = "Scheduled"
    CHAOS_SUSPENDED = "Suspended"
    CHAOS_MISSED_STARTING_DEADLINE = "MissedStartingDeadline"
    CHAOS_CONCURRENCY_FORBIDDEN = "ConcurrencyForbidden"
    # ChaosExperiment: a fault that cannot go here, or into that target (said before anything is touched)
    CHAOS_NOT_INJECTABLE = "FaultNotInjectable"


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(BaseModel):
    """One entry of ``status.conditions`` (the shape of metav1.Condition)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    type: str = Field(min_length=1)
    status: ConditionStatus
    reason: str = Field(default="", description="CamelCase machine-readable reason.")
    message: str = ""
    last_transition_time: str | None = Field(default=None, alias="lastTransitionTime")
    observed_generation: int | None = Field(default=None, alias="observedGeneration")


def utc_now() -> str:
    """Now, in the RFC 3339 form Kubernetes uses for timestamps."""
    return timestamps.now_text()


def find_condition(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    """The condition of that type, or None."""
    return next((c for c in conditions if c.get("type") == type_), None)


def set_condition(
    conditions: Iterable[Mapping[str, Any]],
    *,
    type_: str,
    status: ConditionStatus,
    reason: Reason,
    message: str,
    generation: int | None,
    now: str | None = None,
) -> list[dict[str, Any]]:
    """A new condition list with that condition set; other conditions are kept in order."""
    result: list[dict[str, Any]] = []
    replaced = False
    for existing in conditions:
        if existing.get("type") != type_:
            result.append(dict(existing))
            continue
        transition = existing.get("lastTransitionTime") if existing.get("status") == status else None
        result.append(_condition(type_, status, reason, message, generation, transition or now or utc_now()))
        replaced = True
    if not replaced:
        result.append(_condition(type_, status, reason, message, generation, now or utc_now()))
    return result


def remove_condition(conditions: Iterable[Mapping[str, Any]], type_: str) -> list[dict[str, Any]]:
    """A new condition list without that condition type."""
    return [dict(c) for c in conditions if c.get("type") != type_]


def _condition(
    type_: str, status: str, reason: str, message: str, generation: int | None, transition: str
) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition
