"""Typed status: the fields every kind reports, and the base each kind's status model extends.

A kind's status model is what its controller writes and what the CRD's status schema is
generated from (``naksha.models.crdgen``), so ``kubectl explain <kind>.status`` and clients see
the same fields the operator writes, and the API server prunes nothing the operator relies on.

``wire()`` gives the merge patch body: the top-level fields that were read or assigned, whole.
Unset values are sent as ``null``, so a merge patch removes them, and an object written anew (a
new rollback record) never keeps a field of the one it replaces; inside lists, which a merge
patch stores as they are, unset fields are left out instead. Fields nothing read or assigned are
left out, so a pass that builds only part of a status never overwrites the rest (another
writer's, such as the insight workers' own reports). A kind whose status is not typed yet uses
``OpenStatus`` (unknown fields preserved); a new kind's status extends ``NakshaStatus`` with its
own fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from naksha.models.conditions import Condition


class StatusPart(BaseModel):
    """Base of every status model and its parts: camelCase on the wire, unknown keys dropped on read.

    Not frozen: a controller reads its status, changes it step by step, and writes it.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    @classmethod
    def read(cls, raw: Mapping[str, Any] | None) -> Self:
        """The model from a status (or part of one) as the API returned it."""
        return cls.model_validate(dict(raw or {}))

    def plain(self) -> dict[str, Any]:
        """The part as plain JSON data (camelCase keys, no unset optional fields)."""
        return self.model_dump(by_alias=True, mode="json", exclude_none=True)


class NakshaStatus(StatusPart):
    """Common status fields: ``phase``, ``observedGeneration``, ``conditions``."""

    phase: str | None = Field(default=None, description="Where the object is in its life cycle.")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this status was computed from."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Current conditions (metav1.Condition shape)."
    )

    def wire(self) -> dict[str, Any]:
        """The status as a merge patch: every field read or assigned, ``null`` where a value is unset."""
        data = self.model_dump(by_alias=True, mode="json", include=set(self.model_fields_set))
        return {key: _patch_value(value, in_list=False) for key, value in data.items()}


def _patch_value(value: Any, *, in_list: bool) -> Any:
    """``None`` becomes a merge patch's ``null`` in objects (the key is removed, so an object written
    anew never keeps a field of the one it replaces); inside lists, which a merge patch stores as
    they are, unset fields are left out instead."""
    if isinstance(value, dict):
        return {k: _patch_value(v, in_list=in_list) for k, v in value.items() if not (in_list and v is None)}
    if isinstance(value, list):
        return [_patch_value(item, in_list=True) for item in value]
    return value


def merge_patched(target: Any, patch: Any) -> Any:
    """``target`` after a JSON merge patch (RFC 7386): objects merge, ``null`` removes, the rest replaces."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patched(result.get(key), value)
    return result


class OpenStatus(NakshaStatus):
    """The status of a kind without its own model yet: the common fields, anything else kept."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
