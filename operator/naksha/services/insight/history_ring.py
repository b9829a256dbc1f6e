"""The bounded on-disk ring of the samples an HTTP push worker accepted: the stream's history.

Kafka and Redis keep what producers sent; nothing upstream keeps an HTTP push. So that a
detector tuner can replay a push stream's history, each worker appends every accepted sample,
as parsed, to segment files in a directory (``NAKSHA_HISTORY_DIR``; in a pod an ``emptyDir``
volume, which outlives a container restart — a crash, an OOM kill — but not the pod; a volume
that outlives the pod keeps the ring across reschedules too). One line per sample,
``[ts, metric, value, [[label, value], ...]]``.

Bounds (``spec.source.http.history``): at most ``maxBytes`` on disk and nothing written longer
ago than ``maxAge``; segments are ``maxBytes / SEGMENTS`` each and the oldest whole segment goes
first, so the ring holds between ``(SEGMENTS - 1) / SEGMENTS`` of ``maxBytes`` and all of it.
Writes are appended and flushed per ingest request (a SIGKILLed worker loses nothing it
acknowledged; a node that loses power may lose the page cache's last writes). A line torn by a
kill mid-write is skipped on reading. Opening the directory again picks the ring up where the
last process left it.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from naksha.domain.insight.records import Record

logger = logging.getLogger(__name__)
HISTORY_AUDIENCE = "naksha-history"  # tokens for GET /history are bound to it, and good for nothing else
SEGMENTS = 16
MIN_SEGMENT_BYTES = 4096
SEGMENT_NAME = re.compile(r"^(\d{15})-(\d{6})\.jsonl$")


def encode(record: Record) -> bytes:
    return orjson.dumps([record.ts, record.metric, record.value, record.labels]) + b"\n"


def decode_line(line: bytes) -> Record | None:
    """The sample of one ring line; None for a torn or foreign line."""
    try:
        ts, metric, value, labels = orjson.loads(line)
        return Record(float(ts), str(metric), float(value), tuple((str(k), str(v)) for k, v in labels))
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None


class HistoryRing:
    def __init__(
        self,
        directory: str | Path,
        *,
        max_bytes: int,
        max_age_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_age = max_age_seconds
        self.segment_bytes = max(MIN_SEGMENT_BYTES, max_bytes // SEGMENTS)
        self.clock = clock
        self._file: IO[bytes] | None = None
        self.appended = 0
        existing = self.segments()
        self._sequence = int(SEGMENT_NAME.match(existing[-1].name).group(2)) + 1 if existing else 0  # type: ignore[union-attr]

    def segments(self) -> list[Path]:
        """The ring's segment files, oldest first (the name starts with the creation time)."""
        return sorted(p for p in self.directory.iterdir() if SEGMENT_NAME.match(p.name))

    def append(self, records: Sequence[Record]) -> None:
        if not records:
            return
        data = b"".join(encode(r) for r in records)
        handle = self._open()
        handle.write(data)
        handle.flush()
        self.appended += len(records)
        if handle.tell() >= self.segment_bytes:
            handle.close()
            self._file = None  # the next append starts a new segment
        self.prune()

    def _open(self) -> IO[bytes]:
        if self._file is None:
            segments = self.segments()
            if segments and _size(segments[-1]) < self.segment_bytes:
                path = segments[-1]  # carry on in the last unfilled segment (also after a restart)
            else:
                path = (
                    self.directory / f"{int(self.clock() * 1000):015d}-{self._sequence % 1_000_000:06d}.jsonl"
                )
                self._sequence += 1
            self._file = open(path, "ab")  # noqa: SIM115 - kept open between appends
        return self._file

    def prune(self) -> None:
        """Drop the oldest segments past ``max_bytes``, and those not written for ``max_age``."""
        segments = self.segments()
        sizes = {p: _size(p) for p in segments}
        total = sum(sizes.values())
        cutoff = self.clock() - self.max_age
        for path in segments[:-1]:  # the segment being written stays
            if total <= self.max_bytes and _mtime(path) >= cutoff:
                break
            total -= sizes[path]
            path.unlink(missing_ok=True)
        if segments and _mtime(segments[-1]) < cutoff:
            # Nothing written for max_age: even the last segment is past it.
            if self._file is not None:
                self._file.close()
                self._file = None
            segments[-1].unlink(missing_ok=True)

    def read(self, since: float, until: float) -> Iterator[bytes]:
        """The ring's lines of samples with ``since <= ts < until``, oldest segment first."""
        for path in self.segments():
            if _mtime(path) < since:
                continue  # last written before the window opened
            try:
                with open(path, "rb") as handle:
                    for line in handle:
                        record = decode_line(line)
                        if record is not None and since <= record.ts < until:
                            yield line if line.endswith(b"\n") else line + b"\n"
            except FileNotFoundError:
                continue  # pruned while being read

    def stats(self) -> dict[str, Any]:
        segments = self.segments()
        oldest = int(SEGMENT_NAME.match(segments[0].name).group(1)) / 1000 if segments else None  # type: ignore[union-attr]
        return {
            "bytes": sum(_size(p) for p in segments),
            "segments": len(segments),
            "oldestSegmentAt": oldest,
            "appended": self.appended,
            "maxBytes": self.max_bytes,
            "maxAgeSeconds": self.max_age,
        }

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return 0.0
