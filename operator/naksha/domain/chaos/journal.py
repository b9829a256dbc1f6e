"""The journal and the history: a Chaos-Toolkit-like timeline per run, both kept bounded in status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from naksha.domain.chaos.run import to_iso
from naksha.models.chaosexperiment import ChaosRun, JournalEntry

T = TypeVar("T")
JOURNAL_LIMIT = 200  # entries kept in status across runs (the oldest go first)


def append(
    journal: Sequence[JournalEntry], run: str, activity: str, message: str, *, now: float, ok: bool = True
) -> list[JournalEntry]:
    """The journal with one more entry, in time order (an entry written down after later ones, such
    as a recovery recorded when the run's verdict comes, goes before them), trimmed to its limit."""
    entry = JournalEntry(run=run, at=to_iso(now), activity=activity, message=message, ok=ok)
    entries = list(journal)
    position = len(entries)
    while position > 0 and entries[position - 1].at > entry.at:
        position -= 1
    entries.insert(position, entry)
    return trim(entries, JOURNAL_LIMIT)


def trim(items: Sequence[T], limit: int) -> list[T]:
    """The newest ``limit`` items, in order."""
    return list(items[-limit:]) if limit > 0 else []


def finish(history: Sequence[ChaosRun], run: ChaosRun, limit: int) -> list[ChaosRun]:
    """The history with a finished run added, keeping the last ``limit`` runs (and journals of those)."""
    return trim([*history, run], limit)


def keep_journal_of(journal: Sequence[JournalEntry], runs: Sequence[str]) -> list[JournalEntry]:
    """Only the entries of runs still in history (or in flight): trimming history trims the journal."""
    kept = set(runs)
    return [entry for entry in journal if entry.run in kept]


def entries_of(journal: Sequence[JournalEntry], run: str) -> list[JournalEntry]:
    return [entry for entry in journal if entry.run == run]
