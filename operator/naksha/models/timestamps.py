"""Timestamps as Kubernetes writes them: RFC 3339 in UTC, ``2026-11-29T01:02:03Z``.

The one place the format is spelled. Times inside Naksha are seconds since the epoch (floats,
from an injectable clock); they become text only where they are written into an object.
"""

from __future__ import annotations

import datetime
import time

SECONDS = "%Y-%m-%dT%H:%M:%SZ"  # metav1.Time: conditions, status fields, annotations
MICROSECONDS = "%Y-%m-%dT%H:%M:%S.%fZ"  # metav1.MicroTime: an Event's eventTime


def to_text(moment: float) -> str:
    """``moment`` (seconds since the epoch) to the second, in UTC."""
    return datetime.datetime.fromtimestamp(moment, tz=datetime.UTC).strftime(SECONDS)


def now_text() -> str:
    return to_text(time.time())


def to_micro_text(moment: float) -> str:
    """``moment`` to the microsecond, in UTC (what an Event's ``eventTime`` takes)."""
    return datetime.datetime.fromtimestamp(moment, tz=datetime.UTC).strftime(MICROSECONDS)


def to_seconds(text: str) -> float:
    """A timestamp written by Kubernetes or by Naksha back to seconds since the epoch.

    ValueError when ``text`` is not an ISO 8601 time.
    """
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
