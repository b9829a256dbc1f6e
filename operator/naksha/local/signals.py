"""Blocking until the user stops a foreground control plane (``naksha local up``), for both backends."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


def wait_for_stop(healthy: Callable[[], bool]) -> None:
    """Block until SIGINT or SIGTERM, or until ``healthy()`` turns false; restore the handlers after."""
    finished = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: finished.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not finished.wait(0.5):
            if not healthy():
                return
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
