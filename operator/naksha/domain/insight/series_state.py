"""What one detector remembers about one series, field by field, so a checkpoint can save it.

Everything a detector remembers about a series is a ``SeriesState``, listed field by field in
``SeriesState.FIELDS`` so ``insight.checkpoint`` can save and restore it across a worker restart
(a new method adds its fields there). Each state also records the shard (Kafka partition, Redis
consumer) its last record came from, so a worker saves and hands over state shard by shard. A
saved state is checked field by field when loaded: a corrupt checkpoint is refused whole.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, ClassVar

MAX_SAVED_LIST = 64  # no list in a series' state is longer (constant memory per series)
# Saved as null: "never" (no previous sample, no anomaly yet, no recent mean yet).
NEVER: dict[str, float | None] = {"last_ts": None, "last_anomalous": -math.inf, "short_mean": None}


class SeriesState:
    """What one detector remembers about one series: a handful of floats, and where they came from.

    ``count`` is every sample seen, ``learned`` those in the current baseline (warm-up progress;
    a re-baseline starts it again), ``mean``/``variance`` the EWMA baseline (for ``predictive``:
    the distribution of its recent error), ``last_ts``/``last_value`` the rate detector's previous
    sample, ``level``/``scale``/``recent``/``season`` the predictive detector's prediction, typical
    error, recent error and typical error per hour of the day, ``drift`` and ``daily`` its drift and
    daily predictors', ``in_incident``/``last_anomalous``/``quiet``/``incident_samples`` the
    hysteresis and cooldown, ``raised_at`` the ``count`` at which the open incident raised its anomaly,
    ``short_mean`` the ewma method's recent mean, ``novelty`` the predictive method's ranges of the
    value and of the level, ``novel`` whether its last sample left them (for the runner, at once),
    ``last_novel`` the ``count`` of the last sample that did, ``records`` the largest recent error
    each of its predictors has had (relaxing).
    ``FIELDS`` names what a checkpoint saves, in order; ``shard`` and ``novel`` are not saved (a
    checkpoint is per shard already, and ``novel`` concerns one sample).
    """

    __slots__ = (
        "count",
        "daily",
        "drift",
        "in_incident",
        "incident_samples",
        "last_anomalous",
        "last_novel",
        "last_ts",
        "last_value",
        "learned",
        "level",
        "mean",
        "novel",
        "novelty",
        "quiet",
        "raised_at",
        "recent",
        "records",
        "scale",
        "season",
        "shard",
        "short_mean",
        "variance",
    )
    FIELDS: ClassVar[tuple[str, ...]] = (
        "count",
        "mean",
        "variance",
        "last_ts",
        "last_value",
        "in_incident",
        "last_anomalous",
        "learned",
        "quiet",
        "incident_samples",
        "level",
        "scale",
        "recent",
        "season",
        "drift",
        "daily",
        "raised_at",
        "short_mean",
        "novelty",
        "last_novel",
        "records",
    )

    def __init__(self, shard: str = "") -> None:
        self.count = 0
        self.learned = 0
        self.mean = 0.0
        self.variance = 0.0
        self.last_ts: float | None = None
        self.last_value = 0.0
        self.in_incident = False
        self.last_anomalous = -math.inf
        self.quiet = 0
        self.incident_samples = 0
        self.raised_at = 0  # ``count`` when the incident's anomaly was raised
        self.short_mean: float | None = None  # ewma: the recent mean its control chart judges
        self.level = 0.0
        self.scale = 0.0
        self.recent = 0.0
        self.season: list[float] = []  # only the predictive method fills it (24 floats)
        self.drift: list[float] = []  # and these: its drift predictor's numbers (6 floats)
        self.daily: list[float] = []  # and its daily predictor's (54 floats)
        self.novelty: list[float] = []  # and its novelty check's (6 floats)
        self.records: list[float] = []  # and the record surprise of each of its predictors (3 floats)
        self.novel = False
        self.last_novel = 0  # ``count`` at the last sample that left the series' range
        self.shard = shard

    def dump(self) -> tuple[Any, ...]:
        """The saved fields in ``FIELDS`` order. A checkpoint dumps every series, so this is one
        C call: "never" (an infinite ``last_anomalous``) stays infinite here and becomes JSON
        ``null`` when orjson writes it, as ``load`` expects."""
        values: tuple[Any, ...] = _SAVED(self)
        return values

    @classmethod
    def load(cls, names: Sequence[str], values: Sequence[Any], shard: str) -> SeriesState:
        """A state from saved fields; fields the saver did not know keep their defaults.

        Each value is checked against the type of its field's default (a boolean, a count, a
        float that ``NEVER`` may leave unset), so a new field needs no code here. Raises
        ``ValueError`` when a value does not fit, so a corrupt checkpoint is refused whole rather
        than half restored.
        """
        if len(names) != len(values):
            raise ValueError(f"{len(values)} values for {len(names)} fields")
        state = cls(shard)
        for name, value in zip(names, values, strict=True):
            if name in cls.FIELDS:  # a field written by a newer version is ignored
                setattr(state, name, _checked(name, getattr(state, name), value))
        return state


_SAVED = operator.attrgetter(*SeriesState.FIELDS)


def _checked(name: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ValueError(f"{name} must be a boolean, not {value!r}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise ValueError(f"{name} must be a count, not {value!r}")
    if isinstance(default, list):
        if (
            isinstance(value, list)
            and len(value) <= MAX_SAVED_LIST
            and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
            )
        ):
            return [float(v) for v in value]
        raise ValueError(f"{name} must be a list of at most {MAX_SAVED_LIST} finite numbers, not {value!r}")
    if value is None and name in NEVER:
        return NEVER[name]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ValueError(f"{name} must be a finite number, not {value!r}")
