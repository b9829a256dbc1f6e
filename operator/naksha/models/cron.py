"""Five-field cron expressions: parsing, validation with precise messages, next fire time.

Used by the ChaosExperiment spec (validation at admission) and by its scheduler.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
)
_NAMES = {
    3: {
        month: i + 1
        for i, month in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    4: {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}


@dataclass(frozen=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    def matches(self, moment: datetime.datetime) -> bool:
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and self._day_matches(moment)
        )

    def next_after(self, moment: datetime.datetime) -> datetime.datetime:
        """The first matching minute strictly after ``moment`` (searched up to five years ahead)."""
        candidate = moment.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
        limit = candidate + datetime.timedelta(days=366 * 5)
        while candidate < limit:
            if candidate.month not in self.months:
                first_of_month = candidate.replace(day=1, hour=0, minute=0)
                candidate = (first_of_month + datetime.timedelta(days=32)).replace(day=1)
            elif not self._day_matches(candidate):
                candidate = candidate.replace(hour=0, minute=0) + datetime.timedelta(days=1)
            elif candidate.hour not in self.hours:
                candidate = candidate.replace(minute=0) + datetime.timedelta(hours=1)
            elif candidate.minute not in self.minutes:
                candidate += datetime.timedelta(minutes=1)
            else:
                return candidate
        raise ValueError("cron expression never fires")

    def _day_matches(self, moment: datetime.datetime) -> bool:
        day_ok = moment.day in self.days
        weekday_ok = (moment.isoweekday() % 7) in self.weekdays
        # Standard cron: when both day fields are restricted, either one matching is enough.
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok


def parse_cron(expression: str) -> CronSchedule:
    """Parse ``*/5 * * * *``-style expressions and macros such as ``@hourly``; ValueError if invalid."""
    text = _MACROS.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(f"cron expression {expression!r} must have 5 fields, found {len(parts)}")
    sets = [_parse_field(part, index) for index, part in enumerate(parts)]
    weekdays = frozenset(d % 7 for d in sets[4])
    return CronSchedule(
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )


def validate_cron(expression: str) -> None:
    """Raise ValueError with the reason when the expression is not valid cron."""
    parse_cron(expression)


def _parse_field(text: str, index: int) -> frozenset[int]:
    name, low, high = _FIELDS[index]
    top = 7 if index == 4 else high
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"cron {name} field {text!r} has an empty list item")
        range_part, _, step_part = item.partition("/")
        step = _number(step_part, name) if step_part else 1
        if step < 1:
            raise ValueError(f"cron {name} step must be at least 1 in {item!r}")
        if range_part == "*":
            start, end = low, high
        elif "-" in range_part:
            first, _, last = range_part.partition("-")
            start, end = _value(first, index, name), _value(last, index, name)
        else:
            start = _value(range_part, index, name)
            end = high if step_part else start
        for bound in (start, end):
            if not low <= bound <= top:
                raise ValueError(f"cron {name} value {bound} is outside {low}-{top}")
        if start > end:
            raise ValueError(f"cron {name} range {range_part!r} is backwards")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, index: int, name: str) -> int:
    named = _NAMES.get(index, {}).get(text.lower())
    return named if named is not None else _number(text, name)


def _number(text: str, name: str) -> int:
    if not text.isdigit():
        raise ValueError(f"cron {name} field has a non-numeric value {text!r}")
    return int(text)
