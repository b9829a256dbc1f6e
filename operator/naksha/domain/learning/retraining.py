"""When a model's next version is due, what it is called, and which old versions go (pure).

Like a CronJob making Jobs: the newest version of a model with ``spec.retrain`` makes the next one
when its cron ``schedule`` has fired since it was trained, or when ``minNewOutcomes`` outcomes
finished after its data was read. Versions are numbered by generation (the first is 1); the next
version is ``<model>-v<generation+1>`` with the current one as its parent. Beyond
``historyLimit`` versions the oldest go, except any version holding an alias.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from naksha.models.cron import parse_cron
from naksha.models.labels import MODEL_GENERATION_ANNOTATION

GENERATION_ANNOTATION = MODEL_GENERATION_ANNOTATION


def retrain_due(
    *, schedule: str | None, min_new_outcomes: int | None, trained_at: float, now: float, new_outcomes: int
) -> str | None:
    """Why the next version is due now, or None."""
    if schedule is not None:
        fire = parse_cron(schedule).next_after(datetime.datetime.fromtimestamp(trained_at, tz=datetime.UTC))
        if fire.timestamp() <= now:
            return f"schedule {schedule!r} fired at {fire.isoformat()}"
    if min_new_outcomes is not None and new_outcomes >= min_new_outcomes:
        return f"{new_outcomes} new outcomes (at least {min_new_outcomes})"
    return None


def next_version_name(model: str, generation: int) -> str:
    return f"{model}-v{generation + 1}"[:63]


@dataclass(frozen=True)
class VersionInfo:
    name: str
    generation: int
    holds_alias: bool


def beyond_history(versions: Sequence[VersionInfo], limit: int) -> list[str]:
    """The versions to delete so at most ``limit`` remain (oldest first; alias holders stay)."""
    ordered = sorted(versions, key=lambda v: (v.generation, v.name))
    excess = len(ordered) - limit
    doomed = []
    for version in ordered:
        if excess <= 0:
            break
        if not version.holds_alias:
            doomed.append(version.name)
            excess -= 1
    return doomed
