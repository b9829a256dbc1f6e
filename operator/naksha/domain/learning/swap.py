"""Hot swap: give a running detector the parameters a tuned model chose, keeping what it learnt.

A worker's ``DetectorRunner`` keeps two things: its settings (bounds, z-score, smoothing, warm-up,
cooldown) and the state of each series. ``apply_tuned`` replaces the settings in place, from a
runner built by the worker's own code for the tuned spec, so the swap is exactly what a restart
with that spec would run, and the series' state stays: baselines, warm-up progress and open
incidents carry over. The name, metric and label filter stay the running detector's own (a model
tunes how a detector judges, not what it watches). When the tuned method differs from the running
one, the series' state means nothing to the new method and is dropped (the result says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from naksha.domain.insight.detectors import DetectorRunner
from naksha.models.insightstream import Detector

SETTINGS = (
    "method",
    "min_samples",
    "cooldown",
    "cooldown_samples",
    "above",
    "below",
    "ewma",
    "predictive",
    "max_rate",
    "rate_window",
)


def tuned_spec(artifact: Mapping[str, Any], running: Detector) -> Detector | None:
    """The tuned spec for ``running`` from a detector-tuner artifact (None: it has no entry for it).

    ``ValueError`` when the artifact is not a tuner's or its entry is not a valid detector.
    """
    if artifact.get("algorithm") != "detector-tuner":
        raise ValueError(f"artifact is for {artifact.get('algorithm')!r}, not detector-tuner")
    chosen = (artifact.get("detectors") or {}).get(running.name)
    if chosen is None:
        return None
    fixed = running.model_dump(
        by_alias=True, include={"name", "metric", "labels", "model"}, exclude_none=True
    )
    return Detector.model_validate({**chosen, **fixed})


def apply_tuned(runner: DetectorRunner, spec: Detector) -> Literal["kept", "reset"]:
    """Swap the runner's settings for ``spec``'s; ``kept`` when the series' state carried over."""
    fresh = DetectorRunner(spec, runner.max_series)
    same_method = fresh.method == runner.method
    for name in SETTINGS:
        setattr(runner, name, getattr(fresh, name))
    if same_method:
        return "kept"
    runner.series.clear()
    return "reset"
