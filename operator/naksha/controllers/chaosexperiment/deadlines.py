"""A pass at the moment a run's fault is due to end, rather than at the next timer tick.

The timer ticks every half second per experiment and kopf runs its handlers in one shared thread
pool, so with many experiments in flight a tick waits for a thread and then for its interval: the
restore came up to 1.8 s after the fault's end with 100 experiments at once. ``Deadlines`` keeps
one due moment per experiment (the fault's end, read from the status a pass wrote), and one
thread wakes at the earliest and hands the pass to a small pool of its own, so a due restore
never queues behind the ticks of runs that are merely waiting. The pass itself is the same
locked, idempotent pass the timer runs: whichever comes first restores, the other finds nothing
to do.
"""

from __future__ import annotations

import concurrent.futures
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

WORKERS = 4
logger = logging.getLogger(__name__)


class Deadlines:
    """``at(key, when, action)`` runs ``action`` once at ``when`` (epoch seconds) unless replaced."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._heap: list[tuple[float, int, str, Callable[[], object]]] = []
        self._due: dict[str, float] = {}
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="chaos-deadline")
        self._thread: threading.Thread | None = None

    def at(self, key: str, when: float, action: Callable[[], object]) -> None:
        with self._wake:
            if self._due.get(key) == when:
                return  # already planned (every tick of a waiting run reports the same end)
            self._due[key] = when
            heapq.heappush(self._heap, (when, next(self._order), key, action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="chaos-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def cancel(self, key: str) -> None:
        with self._wake:
            self._due.pop(key, None)  # its heap entry is skipped when it comes up

    def pending(self) -> dict[str, float]:
        with self._wake:
            return dict(self._due)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.time():
                    timeout = self._heap[0][0] - time.time() if self._heap else None
                    self._wake.wait(timeout)
                when, _, key, action = heapq.heappop(self._heap)
                if self._due.get(key) != when:
                    continue  # replaced or cancelled since
                del self._due[key]
            self._pool.submit(action).add_done_callback(_report)


def _report(future: concurrent.futures.Future[object]) -> None:
    """A failed pass is only logged: the timer's next tick tries the same pass again."""
    error = future.exception()
    if error is not None:
        logger.warning("a ChaosExperiment pass at its fault's end failed (the next tick retries): %s", error)
