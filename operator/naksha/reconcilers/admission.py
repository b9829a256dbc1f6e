"""Admission: the spec is parsed with its pydantic model; invalid specs get the exact reason.

Checks the CRD schema cannot express (cross-field rules, references between entries, cron
syntax) live in the models; this reconciler turns their verdict into the ``Accepted`` and
``InvalidSpec`` conditions, the phase, and an Event.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from naksha.models.conditions import ConditionType, Reason
from naksha.reconcilers.context import ReconcileContext, Step, run_steps

PHASE_INVALID = "Invalid"
PHASE_ACCEPTED = "Accepted"


def validate_spec(context: ReconcileContext) -> None:
    """Parse the spec; on failure record InvalidSpec with every reason and stop."""
    try:
        context.spec = context.kind.spec_model.model_validate(context.raw_spec)
    except ValidationError as error:
        reason = describe_validation_error(error)
        context.phase = PHASE_INVALID
        context.set_condition(ConditionType.INVALID_SPEC, "True", Reason.SPEC_INVALID, reason)
        context.set_condition(ConditionType.ACCEPTED, "False", Reason.SPEC_INVALID, reason)
        context.event("Warning", Reason.SPEC_INVALID, reason)
        context.halt()


def accept(context: ReconcileContext) -> None:
    """Mark a valid spec accepted; the kind's own controller takes it from here."""
    context.clear_condition(ConditionType.INVALID_SPEC)
    context.set_condition(ConditionType.ACCEPTED, "True", Reason.SPEC_VALID, "The spec is valid.")
    if context.phase in (None, PHASE_INVALID):
        context.phase = PHASE_ACCEPTED
    if context.condition_changed(ConditionType.ACCEPTED):
        context.event("Normal", Reason.SPEC_VALID, f"{context.kind.kind} spec accepted.")


STEPS: tuple[Step, ...] = (validate_spec, accept)


def reconcile(context: ReconcileContext) -> ReconcileContext:
    return run_steps(context, STEPS)


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming the field path (``spec.source.kafka``) and the rule."""
    lines = [_describe(item) for item in error.errors(include_url=False)]
    return "; ".join(dict.fromkeys(lines))


def _describe(item: Any) -> str:
    path = ".".join(["spec", *(str(part) for part in item.get("loc", ()))])
    message = str(item.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if item.get("type") == "missing":
        message = "Required value"
    elif item.get("type") == "extra_forbidden":
        message = "unknown field"
    return f"{path}: {message}"
