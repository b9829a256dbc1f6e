"""The status every kind reports: phase, observedGeneration, conditions (plus kind-specific fields)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from naksha.models.conditions import Condition


class NakshaStatus(BaseModel):
    """Common status fields; kinds add their own fields (kept, since extra fields are allowed)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    phase: str | None = None
    observed_generation: int | None = Field(default=None, alias="observedGeneration")
    conditions: list[Condition] = Field(default_factory=list)

    def wire(self) -> dict[str, Any]:
        """The status as sent to the API (camelCase, no unset fields)."""
        return self.model_dump(by_alias=True, exclude_none=True)
