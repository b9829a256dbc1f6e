"""The demo's live progress: one timestamped line per event, kept for tests and the report.

A line is ``HH:MM:SS  +elapsed  [scene] message``. Headless runs (tests) print nothing and keep
the same events, so what a test asserts on is what a user would have read. Command output that
the story shows on purpose (``git log -1 --stat``, ``kubectl get naksha -A``) goes through
``block``, indented under its line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO


@dataclass(frozen=True)
class Event:
    at: float  # epoch seconds
    scene: int  # 0: the stage (start-up, summary), else the scene's number
    message: str


class Progress:
    def __init__(self, stream: TextIO | None, clock: Callable[[], float] = time.time) -> None:
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.scene = 0
        self.events: list[Event] = []

    def say(self, message: str) -> Event:
        event = Event(self.clock(), self.scene, message)
        self.events.append(event)
        if self.stream is not None:
            stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
            label = f"[{event.scene}]" if event.scene else "[-]"
            print(f"{stamp} +{event.at - self.started:6.1f}s {label} {message}", file=self.stream, flush=True)
        return event

    def block(self, text: str) -> None:
        """Output shown as it is (a command's), indented under the last line."""
        if self.stream is not None:
            for line in text.rstrip("\n").splitlines():
                print(f"    {line}", file=self.stream)
            self.stream.flush()

    def begin_scene(self, number: int, title: str) -> None:
        self.scene = number
        self.say(f"scene {number}: {title}")

    def end_scene(self) -> None:
        self.scene = 0

    def save(self, path: Path) -> None:
        """The events as JSON, for ``naksha report`` to draw the demo's own timeline."""
        path.write_text(json.dumps([asdict(event) for event in self.events], indent=1))

    def messages(self, scene: int | None = None) -> list[str]:
        return [e.message for e in self.events if scene is None or e.scene == scene]
