"""Telemetry records: parse raw payloads into ``Record``s, and say exactly why the others were refused.

A payload is one JSON object or a JSON array of them. Where each field sits is the stream's
``mapping`` (dotted paths). Values must be finite numbers (not booleans); timestamps may be
epoch seconds, epoch milliseconds (told apart by magnitude) or RFC 3339 strings, and default to
the time of receipt. Labels are a flat object of scalars. ``parse_payload`` never raises: every
refused item is a ``Rejection`` with a reason from ``REASONS`` and its raw bytes, ready for the
dead-letter topic.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from naksha.errors import NakshaError
from naksha.models.insightstream import RecordMapping

REASONS = (
    "invalid_json",
    "not_object",
    "missing_metric",
    "bad_metric",
    "missing_value",
    "bad_value",
    "bad_timestamp",
    "bad_labels",
    "too_many_items",
)
# Epoch values above this are milliseconds: 1e11 seconds is the year 5138.
MILLIS_THRESHOLD = 1e11
MAX_METRIC_LENGTH = 256

Labels = tuple[tuple[str, str], ...]


class Record(NamedTuple):
    # A NamedTuple, not a frozen dataclass: building one per record is several times cheaper.
    ts: float
    metric: str
    value: float
    labels: Labels = ()

    @property
    def series(self) -> tuple[str, Labels]:
        """What a detector keeps state for: the metric and its labels."""
        return (self.metric, self.labels)


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int  # position in the payload's array (0 for a single object)
    reason: str
    detail: str
    raw: bytes


@dataclass(slots=True)
class ParseResult:
    records: list[Record] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


class _Refused(NakshaError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_payload(
    raw: bytes, mapping: RecordMapping, *, received_at: float, max_items: int = 10_000
) -> ParseResult:
    """One payload: a JSON object or an array of them."""
    result = ParseResult()
    RecordParser(mapping, max_items=max_items).parse_into(raw, received_at, result)
    return result


class RecordParser:
    """Parses payloads with one mapping; built once per worker, so per-record work stays minimal."""

    def __init__(self, mapping: RecordMapping, *, max_items: int = 10_000) -> None:
        self.paths = _Paths(mapping)
        self.max_items = max_items
        # The default mapping's single-segment paths take a faster route than dotted lookups.
        self._flat = all(
            len(path) == 1
            for path in (self.paths.metric, self.paths.value, self.paths.timestamp, self.paths.labels)
        )

    def parse_into(self, raw: bytes, received_at: float, result: ParseResult) -> None:
        try:
            document = orjson.loads(raw)
        except (orjson.JSONDecodeError, TypeError) as error:
            result.rejections.append(Rejection(0, "invalid_json", str(error), bytes(raw)))
            return
        if type(document) is dict:
            record = self._fast(document, received_at) if self._flat else None
            if record is not None:
                result.records.append(record)
                return
            items: list[Any] = [document]
        elif isinstance(document, list):
            if len(document) > self.max_items:
                detail = f"{len(document)} records in one payload; the limit is {self.max_items}"
                result.rejections.append(Rejection(0, "too_many_items", detail, bytes(raw)))
                return
            items = document
        else:
            items = [document]
        for index, item in enumerate(items):
            record = self._fast(item, received_at) if self._flat and type(item) is dict else None
            if record is not None:
                result.records.append(record)
                continue
            try:
                result.records.append(_record(item, self.paths, received_at))
            except _Refused as refused:
                fragment = bytes(raw) if len(items) == 1 else _dump(item)
                result.rejections.append(Rejection(index, refused.reason, refused.detail, fragment))

    def _fast(self, item: dict[str, Any], received_at: float) -> Record | None:
        """The common case (string metric, numeric value and time, string labels) or None to check fully."""
        paths = self.paths
        metric = item.get(paths.metric[0])
        value: Any = item.get(paths.value[0])
        ts = item.get(paths.timestamp[0], received_at)
        labels = item.get(paths.labels[0])
        if (
            type(metric) is not str
            or not 0 < len(metric) <= MAX_METRIC_LENGTH
            or type(value) not in (int, float)
            or type(ts) not in (int, float)
            or not 0 <= ts < MILLIS_THRESHOLD
            or (labels is not None and type(labels) is not dict)
        ):
            return None
        value = float(value)
        if not math.isfinite(value):
            return None
        if not labels:
            return Record(float(ts), metric, value, ())
        pairs = labels.items()
        for _, label in pairs:
            if type(label) is not str:
                return None
        return Record(float(ts), metric, value, tuple(sorted(pairs)))


class _Paths:
    __slots__ = ("labels", "metric", "timestamp", "value")

    def __init__(self, mapping: RecordMapping) -> None:
        self.timestamp = tuple(mapping.timestamp.split("."))
        self.metric = tuple(mapping.metric.split("."))
        self.value = tuple(mapping.value.split("."))
        self.labels = tuple(mapping.labels.split("."))


_MISSING = object()


def _lookup(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    if len(path) == 1:
        return item.get(path[0], _MISSING)
    node: Any = item
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _record(item: Any, paths: _Paths, received_at: float) -> Record:
    if not isinstance(item, dict):
        raise _Refused("not_object", f"a record must be a JSON object, not {type(item).__name__}")
    metric = _lookup(item, paths.metric)
    if metric is _MISSING or metric is None:
        raise _Refused("missing_metric", f"no metric at {'.'.join(paths.metric)!r}")
    if not isinstance(metric, str) or not metric or len(metric) > MAX_METRIC_LENGTH:
        raise _Refused("bad_metric", f"the metric must be a non-empty string of at most {MAX_METRIC_LENGTH}")
    value = _lookup(item, paths.value)
    if value is _MISSING or value is None:
        raise _Refused("missing_value", f"no value at {'.'.join(paths.value)!r}")
    return Record(
        ts=_timestamp(_lookup(item, paths.timestamp), received_at),
        metric=metric,
        value=_number(value),
        labels=_labels(_lookup(item, paths.labels)),
    )


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Refused("bad_value", f"the value must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise _Refused("bad_value", f"the value {str(value)[:40]!r} is not a number") from None
    if not math.isfinite(number):
        raise _Refused("bad_value", "the value must be finite")
    return number


def _timestamp(raw: Any, received_at: float) -> float:
    if raw is _MISSING or raw is None:
        return received_at
    if isinstance(raw, bool):
        raise _Refused("bad_timestamp", "a timestamp cannot be a boolean")
    if isinstance(raw, int | float):
        seconds = float(raw) / 1000 if abs(raw) >= MILLIS_THRESHOLD else float(raw)
        if not math.isfinite(seconds) or seconds < 0:
            raise _Refused("bad_timestamp", "the timestamp must be a non-negative finite epoch time")
        return seconds
    if isinstance(raw, str):
        try:
            parsed = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise _Refused("bad_timestamp", f"{raw[:40]!r} is not an RFC 3339 time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return parsed.timestamp()
    raise _Refused("bad_timestamp", f"a timestamp cannot be a {type(raw).__name__}")


def _labels(raw: Any) -> Labels:
    if raw is _MISSING or raw is None:
        return ()
    if not isinstance(raw, dict):
        raise _Refused("bad_labels", "labels must be a JSON object")
    labels = []
    for key, value in raw.items():
        if isinstance(value, dict | list) or value is None:
            raise _Refused("bad_labels", f"label {key!r} must be a string, number or boolean")
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        labels.append((str(key), text))
    labels.sort()
    return tuple(labels)


def _dump(item: Any) -> bytes:
    try:
        return orjson.dumps(item)
    except (TypeError, orjson.JSONEncodeError):
        return repr(item).encode()
