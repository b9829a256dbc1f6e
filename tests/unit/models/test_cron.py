"""Cron schedules parse like cron, refuse nonsense precisely, and fire at the right minute."""

from __future__ import annotations

import datetime

import pytest

from naksha.models.cron import parse_cron

UTC = datetime.UTC


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", "2026-01-01T10:07", "2026-01-01T10:15"),
        ("0 3 * * 1-5", "2026-11-27T04:00", "2026-11-30T03:00"),  # Friday → Monday
        ("@hourly", "2026-01-01T10:00", "2026-01-01T11:00"),
        ("30 12 1 jan *", "2026-06-01T00:00", "2027-01-01T12:30"),
        ("0 0 29 2 *", "2026-03-01T00:00", "2028-02-29T00:00"),
        ("0 0 13 * 5", "2026-11-01T00:00", "2026-11-06T00:00"),  # day OR weekday when both restricted
        ("0 0 * * 7", "2026-11-24T00:00", "2026-11-29T00:00"),  # 7 is Sunday too
    ],
)
def test_next_fire_time(expression, after, expected):
    assert parse_cron(expression).next_after(at(after)) == at(expected)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "must have 5 fields, found 4"),
        ("60 * * * *", "cron minute value 60 is outside 0-59"),
        ("* * * * mon-sunday", "non-numeric value 'sunday'"),
        ("*/0 * * * *", "step must be at least 1"),
        ("5-1 * * * *", "range '5-1' is backwards"),
        ("1,,2 * * * *", "empty list item"),
    ],
)
def test_invalid_expressions_are_refused_with_the_reason(expression, message):
    with pytest.raises(ValueError, match=message):
        parse_cron(expression)


def test_a_schedule_that_never_fires_is_reported():
    with pytest.raises(ValueError, match="never fires"):
        parse_cron("0 0 31 2 *").next_after(at("2026-01-01T00:00"))
