"""A pass runs at the moment a fault is due to end, once, unless it was replaced or cancelled."""

from __future__ import annotations

import threading
import time

from naksha.controllers.chaosexperiment.deadlines import Deadlines
from naksha.domain.chaos.run import to_iso
from naksha.domain.chaos.timer import fault_end


def recorder() -> tuple[list[tuple[str, float]], threading.Event, object]:
    seen: list[tuple[str, float]] = []
    done = threading.Event()

    def action(name: str):
        def run() -> None:
            seen.append((name, time.time()))
            done.set()

        return run

    return seen, done, action


def test_an_action_runs_at_its_moment_not_before_and_not_much_after():
    seen, done, action = recorder()
    deadlines = Deadlines()
    due = time.time() + 0.3
    deadlines.at("a", due, action("a"))
    assert done.wait(5)
    ((name, at),) = seen
    assert name == "a" and due <= at < due + 0.25


def test_the_earliest_moment_runs_first_whatever_the_order_they_were_planned_in():
    seen, _, action = recorder()
    deadlines = Deadlines()
    now = time.time()
    deadlines.at("late", now + 0.4, action("late"))
    deadlines.at("early", now + 0.1, action("early"))
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [name for name, _ in seen] == ["early", "late"]


def test_a_moment_planned_again_runs_once_and_a_replaced_or_cancelled_one_not_at_all():
    seen, _, action = recorder()
    deadlines = Deadlines()
    now = time.time()
    deadlines.at("same", now + 0.1, action("same-1"))
    deadlines.at("same", now + 0.1, action("same-2"))  # every tick reports the same end: no second run
    deadlines.at("moved", now + 0.1, action("moved-old"))
    deadlines.at("moved", now + 0.2, action("moved-new"))
    deadlines.at("gone", now + 0.1, action("gone"))
    deadlines.cancel("gone")
    time.sleep(0.8)
    assert sorted(name for name, _ in seen) == ["moved-new", "same-1"]
    assert deadlines.pending() == {}


def test_a_failing_action_does_not_stop_the_ones_after_it():
    seen, done, action = recorder()
    deadlines = Deadlines()

    def broken() -> None:
        raise RuntimeError("the API refused")

    now = time.time()
    deadlines.at("broken", now + 0.05, broken)
    deadlines.at("fine", now + 0.15, action("fine"))
    assert done.wait(5)
    assert [name for name, _ in seen] == ["fine"]


def test_only_an_injected_run_has_a_fault_end():
    injected = to_iso(1_000.0)
    assert fault_end("Injected", injected, 30.0) == 1_030.0
    for stage in ("Pending", "Injecting", "Restoring", "Verifying", "Done"):
        assert fault_end(stage, injected, 30.0) is None
    assert fault_end("Injected", None, 30.0) is None
