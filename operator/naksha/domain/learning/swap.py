"""Hot swap: give a running detector the parameters a tuned model chose, keeping what it learnt.

A worker's ``DetectorRunner`` keeps two things: its settings (bounds, z-score, smoothing, warm-up,
cooldown) and the state of each series. ``apply_tuned`` replaces the settings in place, from a
runner built by the worker's own code for the tuned spec, so the swap is exactly what a restart
with that spec would run, and the series' state stays: baselines, warm-up progress and open
incidents carry over. The name, metric and label filter stay the running detector's own (a model
tunes how a detector judges, not what it watches). When the tuned method differs from the running
one, the series' state means nothing to the new method and is dropped (the result says so).

An artifact may also carry per-series parameters beside the detector-wide set
(``series: {detector: [{labels, spec}]}``, absent from artifacts without any, so older
artifacts read the same): ``tuned_series`` reads them, each of the detector-wide method, and
``apply_tuned`` gives each such series its own settings while every other series runs the
detector-wide set. Series state is kept the same way: only the settings change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from naksha.domain.insight.detectors import DetectorRunner
from naksha.domain.insight.records import Labels
from naksha.models.insightstream import Detector

SETTINGS = (
    "method",
    "min_samples",
    "cooldown",
    "cooldown_samples",
    "rearm_samples",
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
    return _with_running_identity(chosen, running)


def tuned_series(artifact: Mapping[str, Any], running: Detector, tuned: Detector) -> dict[Labels, Detector]:
    """The per-series specs for ``running`` (none when the artifact has none for it).

    ``ValueError`` when an entry is malformed or its method is not the detector-wide ``tuned``
    one (a series' state must mean the same to both).
    """
    every = artifact.get("series", {})
    if not isinstance(every, Mapping):
        raise ValueError("series must map detector names to lists")
    entries = every.get(running.name, [])
    if not isinstance(entries, list):
        raise ValueError(f"series of {running.name!r} must be a list")
    found: dict[Labels, Detector] = {}
    for entry in entries:
        labels = entry.get("labels") if isinstance(entry, Mapping) else None
        chosen = entry.get("spec") if isinstance(entry, Mapping) else None
        if not isinstance(labels, Mapping) or not isinstance(chosen, Mapping):
            raise ValueError(f"a series entry of {running.name!r} needs labels and spec objects")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise ValueError(f"series labels of {running.name!r} must map strings to strings")
        spec = _with_running_identity(chosen, running)
        if spec.method != tuned.method:
            raise ValueError(
                f"series {dict(labels)} of {running.name!r} uses {spec.method},"
                f" not the detector's {tuned.method}"
            )
        found[tuple(sorted(labels.items()))] = spec
    return found


def _with_running_identity(chosen: Mapping[str, Any], running: Detector) -> Detector:
    fixed = running.model_dump(
        by_alias=True, include={"name", "metric", "labels", "model"}, exclude_none=True
    )
    return Detector.model_validate({**chosen, **fixed})


def apply_tuned(
    runner: DetectorRunner, spec: Detector, series: Mapping[Labels, Detector] | None = None
) -> Literal["kept", "reset"]:
    """Swap the runner's settings for ``spec``'s, and each of ``series`` for its own (every other
    series runs ``spec``); ``kept`` when the series' state carried over."""
    fresh = DetectorRunner(spec, runner.max_series)
    same_method = fresh.method == runner.method
    for name in SETTINGS:
        setattr(runner, name, getattr(fresh, name))
    runner.overrides = {
        labels: DetectorRunner(own, runner.max_series) for labels, own in (series or {}).items()
    }
    if same_method:
        return "kept"
    runner.series.clear()
    return "reset"
