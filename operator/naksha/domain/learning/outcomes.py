"""Outcome records: what a finished AgentRun teaches, parsed strictly, with malformed ones counted.

A record is a flat JSON object (the outcome archive and ``naksha export outcomes`` write this form;
``record_from_agent_run`` builds it from an AgentRun object):

``run`` "ns/name", ``finishedAt`` (RFC 3339 or epoch seconds), ``resolved`` (bool), ``playbook``,
and optionally ``detectedAt``, ``stream``, ``detector``, ``signal``, ``targetKind``, ``labels``
(string map), ``acted`` (bool: the run did something), ``timeToRecoverSeconds``, ``label``
(``incident`` | ``false-positive``, a human's verdict), ``propensity`` (the probability with which
the playbook was chosen, for IPS), ``modelVersion`` (the version that chose it),
``detectorModelVersion`` (the detector-tuner version whose parameters raised the anomaly).

Labels for the detector tuner follow the loop's own evidence: a human label wins; otherwise a run
that acted and recovered confirms an incident, and a run that found nothing to do, or was
rejected, marks a false positive. A run that acted and failed says the anomaly was real.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from naksha.models.labels import DETECTOR_MODEL_ANNOTATION, INCIDENT_LABEL_ANNOTATION
from naksha.models.timestamps import to_text

IncidentLabel = Literal["incident", "false-positive"]
LABELS: tuple[IncidentLabel, ...] = ("incident", "false-positive")
FINISHED_PHASES = ("Succeeded", "Failed", "Rejected", "Refused")


class MalformedRecord(ValueError):
    """A record that cannot be used; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Outcome:
    run: str
    finished_at: float
    playbook: str
    resolved: bool
    detected_at: float | None = None
    stream: str = ""
    detector: str = ""
    signal: str = ""
    target_kind: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    acted: bool = True
    time_to_recover: float | None = None
    label: IncidentLabel | None = None
    propensity: float | None = None
    model_version: str = ""
    detector_model_version: str = ""  # the detector-tuner version whose parameters raised the anomaly

    @property
    def incident(self) -> IncidentLabel:
        """Whether the anomaly behind the run was real, from the best evidence at hand."""
        if self.label is not None:
            return self.label
        return "incident" if self.acted else "false-positive"

    def context(self, fields: Iterable[str]) -> str:
        """The run's context as the ranker keys it: the named fields, ``label:KEY`` for a label."""
        values = {"stream": self.stream, "detector": self.detector, "signal": self.signal}
        return run_context(fields, {**values, "targetKind": self.target_kind}, dict(self.labels))


def run_context(fields: Iterable[str], values: Mapping[str, str], labels: Mapping[str, str]) -> str:
    """A context key from a run's ``stream``/``detector``/``signal``/``targetKind`` and labels; a
    run about to start and the outcome it will leave get the same key."""
    return "|".join(
        labels.get(name[6:], "") if name.startswith("label:") else values.get(name, "") for name in fields
    )


_CONTEXT_FIELDS = {
    "stream": "stream",
    "detector": "detector",
    "signal": "signal",
    "targetKind": "target_kind",
}
CONTEXT_FIELDS = tuple(_CONTEXT_FIELDS)


def valid_context_field(name: str) -> bool:
    return name in _CONTEXT_FIELDS or (name.startswith("label:") and len(name) > 6)


@dataclass
class ParsedOutcomes:
    """The usable outcomes, in time order, and what was skipped and why (counted, never fatal)."""

    outcomes: list[Outcome] = field(default_factory=list)
    malformed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, item: Any) -> None:
        try:
            self.outcomes.append(parse_outcome(item))
        except MalformedRecord as error:
            self.malformed += 1
            self.reasons[str(error)] += 1


def parse_outcomes(items: Iterable[Any]) -> ParsedOutcomes:
    """Parse every record; the malformed ones are counted by reason and skipped."""
    parsed = ParsedOutcomes()
    for item in items:
        parsed.add(item)
    parsed.outcomes.sort(key=lambda o: (o.finished_at, o.run))
    return parsed


def parse_outcome(item: Any) -> Outcome:
    """One record, or ``MalformedRecord`` naming the first field that is wrong."""
    if not isinstance(item, Mapping):
        raise MalformedRecord("record is not an object")
    run = _text(item, "run", required=True)
    playbook = _text(item, "playbook", required=True)
    resolved = item.get("resolved")
    if not isinstance(resolved, bool):
        raise MalformedRecord("resolved must be true or false")
    label = item.get("label")
    if label is not None and label not in LABELS:
        raise MalformedRecord("label must be incident or false-positive")
    labels = item.get("labels") or {}
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise MalformedRecord("labels must map strings to strings")
    acted = item.get("acted", True)
    if not isinstance(acted, bool):
        raise MalformedRecord("acted must be true or false")
    propensity = _number(item, "propensity")
    if propensity is not None and not 0 < propensity <= 1:
        raise MalformedRecord("propensity must be in (0, 1]")
    recover = _number(item, "timeToRecoverSeconds")
    if recover is not None and recover < 0:
        raise MalformedRecord("timeToRecoverSeconds must not be negative")
    finished = parse_time(item.get("finishedAt"), "finishedAt")
    if finished is None:
        raise MalformedRecord("finishedAt is required")
    return Outcome(
        run=run,
        finished_at=finished,
        playbook=playbook,
        resolved=resolved,
        detected_at=parse_time(item.get("detectedAt"), "detectedAt"),
        stream=_text(item, "stream"),
        detector=_text(item, "detector"),
        signal=_text(item, "signal"),
        target_kind=_text(item, "targetKind"),
        labels=tuple(sorted(labels.items())),
        acted=acted,
        time_to_recover=recover,
        label=label,
        propensity=propensity,
        model_version=_text(item, "modelVersion"),
        detector_model_version=_text(item, "detectorModelVersion"),
    )


def parse_time(value: Any, name: str) -> float | None:
    """Epoch seconds from RFC 3339 text or a number; None when absent."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise MalformedRecord(f"{name} must be finite")
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise MalformedRecord(f"{name} is not an RFC 3339 time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return parsed.timestamp()
    raise MalformedRecord(f"{name} must be a time")


def rfc3339(ts: float) -> str:
    return to_text(ts)


def record_from_agent_run(
    body: Mapping[str, Any], label: IncidentLabel | None = None
) -> dict[str, Any] | None:
    """The outcome record of a finished AgentRun object, or None while it runs (or never chose)."""
    status = body.get("status") or {}
    phase = status.get("phase")
    outcome = status.get("outcome") or {}
    if phase not in FINISHED_PHASES:
        return None
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    signal = spec.get("signal") or {}
    choice = status.get("playbookChoice") or (status.get("state") or {}).get("playbookChoice") or {}
    playbook = (
        outcome.get("playbook") or choice.get("playbook") or (spec.get("playbookRef") or {}).get("name")
    )
    if not playbook:
        return None  # a run of an inline graph has no playbook to learn about
    record: dict[str, Any] = {
        "run": f"{meta.get('namespace', '')}/{meta.get('name', '')}",
        "finishedAt": status.get("finishedAt") or _last_transition(status) or meta.get("creationTimestamp"),
        "playbook": playbook,
        "resolved": bool(outcome.get("resolved")) if phase != "Rejected" else False,
        "acted": bool(outcome.get("actions")) and phase != "Rejected",
        "stream": signal.get("stream") or "",
        "detector": signal.get("detector") or "",
        "signal": signal.get("source") or "",
        "targetKind": (spec.get("target") or {}).get("kind") or "",
        "labels": {str(k): str(v) for k, v in (signal.get("series") or {}).items()},
        "runLabels": dict(meta.get("labels") or {}),
    }
    if signal.get("detectedAt"):
        record["detectedAt"] = signal["detectedAt"]
    if outcome.get("timeToRecoverSeconds") is not None:
        record["timeToRecoverSeconds"] = outcome["timeToRecoverSeconds"]
    if choice.get("modelVersion"):
        record["modelVersion"] = choice["modelVersion"]
    if choice.get("propensity") is not None:
        record["propensity"] = choice["propensity"]
    tuned = (meta.get("annotations") or {}).get(DETECTOR_MODEL_ANNOTATION)
    if tuned:
        record["detectorModelVersion"] = str(tuned)
    human = label or (meta.get("annotations") or {}).get(LABEL_ANNOTATION)
    if human in LABELS:
        record["label"] = human
    return record


LABEL_ANNOTATION = INCIDENT_LABEL_ANNOTATION


def _last_transition(status: Mapping[str, Any]) -> str | None:
    times = [
        c.get("lastTransitionTime") for c in status.get("conditions") or [] if c.get("lastTransitionTime")
    ]
    return max(times) if times else None


def dataset_hash(outcomes: Iterable[Outcome]) -> str:
    """sha256 over the outcomes in their canonical form: the same data gives the same hash."""
    digest = hashlib.sha256()
    for outcome in outcomes:
        row = [
            outcome.run,
            outcome.finished_at,
            outcome.playbook,
            outcome.resolved,
            outcome.detected_at,
            outcome.stream,
            outcome.detector,
            outcome.signal,
            outcome.target_kind,
            outcome.labels,
            outcome.acted,
            outcome.time_to_recover,
            outcome.label,
        ]
        digest.update(json.dumps(row, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _text(item: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = item.get(name)
    if value is None or value == "":
        if required:
            raise MalformedRecord(f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise MalformedRecord(f"{name} must be text")
    return value


def _number(item: Mapping[str, Any], name: str) -> float | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MalformedRecord(f"{name} must be a finite number")
    return float(value)
