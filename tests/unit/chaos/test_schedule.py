"""Schedule decisions: cron firings, time zones, Forbid/Replace, deadlines, suspend, commands."""

from __future__ import annotations

import datetime

from naksha.domain.chaos.journal import append, finish, keep_journal_of, trim
from naksha.domain.chaos.schedule import ScheduleInput, decide_start, next_firing
from naksha.models.chaosexperiment import ChaosRun


def at(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


def given(now: str, **changes) -> ScheduleInput:
    base = {
        "now": at(now),
        "schedule": "*/5 * * * *",
        "time_zone": None,
        "suspend": False,
        "concurrency_policy": "Forbid",
        "starting_deadline_seconds": None,
        "created_at": at("2026-01-01T00:00:30"),
        "last_schedule_time": None,
        "runs_so_far": 0,
        "running": False,
    }
    return ScheduleInput(**{**base, **changes})


def test_nothing_starts_before_the_first_firing_and_the_next_one_is_known():
    decision = decide_start(given("2026-01-01T00:04:59"))
    assert decision.action == "none"
    assert decision.next_at == at("2026-01-01T00:05:00")


def test_a_due_firing_starts_a_run_and_consumes_that_firing():
    decision = decide_start(given("2026-01-01T00:05:01"))
    assert (decision.action, decision.scheduled_for) == ("start", at("2026-01-01T00:05:00"))
    assert decision.next_at == at("2026-01-01T00:10:00")


def test_after_downtime_only_the_latest_missed_firing_runs():
    decision = decide_start(given("2026-01-01T00:17:00"))
    assert decision.scheduled_for == at("2026-01-01T00:15:00")


def test_a_firing_past_its_starting_deadline_is_skipped():
    decision = decide_start(given("2026-01-01T00:06:00", starting_deadline_seconds=30))
    assert (decision.action, decision.reason) == ("skip", "MissedStartingDeadline")
    assert "60s late" in decision.message


def test_forbid_skips_a_firing_while_a_run_is_in_progress_and_replace_replaces_it():
    forbid = decide_start(given("2026-01-01T00:05:01", running=True))
    assert (forbid.action, forbid.reason, forbid.scheduled_for) == (
        "skip",
        "ConcurrencyForbidden",
        at("2026-01-01T00:05:00"),
    )
    replace = decide_start(given("2026-01-01T00:05:01", running=True, concurrency_policy="Replace"))
    assert replace.action == "replace"


def test_a_suspended_experiment_does_not_fire_but_a_command_still_runs_it():
    assert decide_start(given("2026-01-01T00:05:01", suspend=True)).action == "none"
    assert decide_start(given("2026-01-01T00:05:01", suspend=True, run_command="c1")).reason == "Command"


def test_an_unscheduled_experiment_runs_once():
    assert decide_start(given("2026-01-01T00:00:31", schedule=None)).action == "start"
    assert decide_start(given("2026-01-01T00:00:31", schedule=None, runs_so_far=1)).action == "none"


def test_the_time_zone_moves_the_firings():
    # 09:00 in Kolkata (UTC+05:30) is 03:30 UTC.
    assert next_firing("0 9 * * *", at("2026-01-01T00:00:00"), "Asia/Kolkata") == at("2026-01-01T03:30:00")


def test_history_and_journal_are_trimmed_together():
    runs = [ChaosRun(id=f"r{i}", started_at="2026-01-01T00:00:00Z") for i in range(5)]
    history: list[ChaosRun] = []
    for run in runs:
        history = finish(history, run, 3)
    assert [r.id for r in history] == ["r2", "r3", "r4"]
    journal = []
    for run in runs:
        journal = append(journal, run.id, "inject", "pod web-1 killed", now=0.0)
    kept = keep_journal_of(journal, [r.id for r in history])
    assert [e.run for e in kept] == ["r2", "r3", "r4"]
    assert trim([1, 2, 3], 0) == []


def test_an_entry_written_down_after_later_ones_takes_its_place_in_time():
    journal = append([], "r1", "inject", "web scaled to 0", now=100.0)
    journal = append(journal, "r1", "restore", "web back to 3", now=110.0)
    journal = append(journal, "r1", "verdict", "Passed", now=130.0)
    journal = append(journal, "r1", "recover", "steady again 12.000s after the fault", now=112.0)
    assert [e.activity for e in journal] == ["inject", "restore", "recover", "verdict"]
    assert [e.at for e in journal] == sorted(e.at for e in journal)


def test_an_idle_experiment_needs_no_pass_before_its_next_firing():
    from naksha.domain.chaos.schedule import idle_until

    common = {"time_zone": None, "created_at": at("2026-01-01T00:00:30"), "last_schedule_time": None}
    assert idle_until(schedule="*/5 * * * *", suspend=False, running=False, runs_so_far=0, **common) == at(
        "2026-01-01T00:05:00"
    )
    assert idle_until(schedule="*/5 * * * *", suspend=False, running=True, runs_so_far=0, **common) is None
    assert idle_until(schedule=None, suspend=False, running=False, runs_so_far=0, **common) is None
    assert idle_until(schedule=None, suspend=False, running=False, runs_so_far=1, **common) == float("inf")
    assert idle_until(schedule="* * * * *", suspend=True, running=False, runs_so_far=3, **common) == float(
        "inf"
    )
