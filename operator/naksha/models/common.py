"""Building blocks shared by the specs of every kind: the base model, durations, references.

The pydantic models here and in the per-kind modules are the single source of truth of the
API: ``naksha.models.crdgen`` turns them into the CRDs under ``crds/``, and the operator parses
every object it handles with them, so a rule written once is enforced in both places.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        description="A duration such as 30s, 5m, 1h30m or 250ms.",
    ),
]
DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=63)]
FreeForm = Annotated[
    dict[str, Any],
    Field(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}),
]


def parse_duration(text: str) -> float:
    """Seconds in a duration string (``1h30m`` → 5400.0); raises ValueError on malformed input."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m, 250ms")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text))


class NakshaModel(BaseModel):
    """Base of every spec model: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class SecretKeyRef(NakshaModel):
    """A key of a Secret in the object's own namespace."""

    name: str = Field(min_length=1, max_length=253, description="Name of the Secret.")
    key: str = Field(min_length=1, description="Key inside the Secret's data.")


class SecretRef(NakshaModel):
    """A whole Secret in the object's own namespace."""

    name: str = Field(min_length=1, description="Name of the Secret.")


class LabelSelectorRequirement(NakshaModel):
    """One requirement of a label selector, as in Kubernetes' own selectors."""

    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)


class LabelSelector(NakshaModel):
    """A Kubernetes label selector: every matchLabels pair and every expression must hold."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)


class ObjectTarget(NakshaModel):
    """A reference to one Kubernetes object (the subject of an action or an experiment)."""

    api_version: str | None = Field(
        default=None,
        min_length=1,
        description="Absent: the kind's own (apps/v1 Deployment, naksha.io/v1alpha1 Rollout, v1 ConfigMap).",
    )
    kind: str = Field(min_length=1, description="Kind of the object, e.g. Deployment or Rollout.")
    name: str = Field(min_length=1)
    namespace: str | None = Field(default=None, description="Defaults to the referring object's namespace.")
