"""The HTTP push worker's history ring: bounded in bytes and age, read by time range, picked up
again by a restarted worker, and tolerant of a line torn by a kill."""

from __future__ import annotations

import os
import time
from pathlib import Path

from naksha.domain.insight.records import Record
from naksha.services.insight.history_ring import HistoryRing, decode_line, encode


def samples(start: float, count: int) -> list[Record]:
    return [Record(start + i, "latency", (start + i) % 97, (("svc", "api"),)) for i in range(count)]


def read_all(ring: HistoryRing, since: float = 0.0, until: float = float("inf")) -> list[Record]:
    return [r for r in (decode_line(line) for line in ring.read(since, until)) if r is not None]


class TestReading:
    def test_what_was_appended_reads_back_in_order_with_its_labels(self, tmp_path: Path) -> None:
        ring = HistoryRing(tmp_path, max_bytes=1 << 20, max_age_seconds=3600)
        ring.append(samples(100.0, 50))
        ring.append(samples(150.0, 50))
        assert read_all(ring) == samples(100.0, 100)

    def test_a_time_range_returns_only_the_samples_inside_it(self, tmp_path: Path) -> None:
        ring = HistoryRing(tmp_path, max_bytes=1 << 20, max_age_seconds=3600)
        ring.append(samples(100.0, 100))
        assert [r.ts for r in read_all(ring, 120.0, 130.0)] == [120.0 + i for i in range(10)]

    def test_a_torn_last_line_is_skipped_and_the_rest_is_kept(self, tmp_path: Path) -> None:
        ring = HistoryRing(tmp_path, max_bytes=1 << 20, max_age_seconds=3600)
        ring.append(samples(100.0, 10))
        ring.close()
        (segment,) = ring.segments()
        with segment.open("ab") as handle:
            handle.write(b'[110.0, "latency", 3.0, [["sv')  # a kill in the middle of a write
        assert read_all(HistoryRing(tmp_path, max_bytes=1 << 20, max_age_seconds=3600)) == samples(100.0, 10)


class TestBounds:
    def test_the_ring_never_holds_much_more_than_max_bytes_and_drops_the_oldest(self, tmp_path: Path) -> None:
        ring = HistoryRing(tmp_path, max_bytes=64 * 1024, max_age_seconds=1e9)
        for batch in range(200):
            ring.append(samples(batch * 100.0, 100))
        on_disk = sum(p.stat().st_size for p in ring.segments())
        assert on_disk <= 64 * 1024 + ring.segment_bytes
        kept = read_all(ring)
        assert kept[-1].ts == 200 * 100.0 - 1  # the newest stays
        assert kept[0].ts > 0  # the oldest went
        assert [r.ts for r in kept] == sorted(r.ts for r in kept)
        # Whole segments go, so the ring keeps at least max_bytes less about one segment.
        assert sum(len(encode(r)) for r in kept) >= 64 * 1024 - 2 * ring.segment_bytes

    def test_segments_not_written_for_max_age_are_dropped(self, tmp_path: Path) -> None:
        ring = HistoryRing(tmp_path, max_bytes=16 * 4096, max_age_seconds=600)
        ring.append(samples(0.0, 200))
        for _ in range(6):
            ring.append(samples(0.0, 200))
        old = ring.segments()
        assert len(old) > 2
        last_written = time.time() - 601  # as if nothing had been pushed for ten minutes
        for path in old:
            os.utime(path, (last_written, last_written))
        ring.append(samples(5000.0, 10))
        assert not any(path.exists() for path in old[:-1])
        assert [r.ts for r in read_all(ring, 5000.0)] == [5000.0 + i for i in range(10)]

    def test_nothing_is_served_or_kept_once_everything_is_older_than_max_age(self, tmp_path: Path) -> None:
        ring = HistoryRing(tmp_path, max_bytes=1 << 20, max_age_seconds=600)
        ring.append(samples(0.0, 10))
        stale = time.time() - 601
        for path in ring.segments():
            os.utime(path, (stale, stale))
        ring.prune()
        assert ring.segments() == [] and read_all(ring) == []


class TestRestart:
    def test_a_new_process_carries_on_in_the_same_directory(self, tmp_path: Path) -> None:
        first = HistoryRing(tmp_path, max_bytes=1 << 20, max_age_seconds=3600)
        first.append(samples(100.0, 10))
        first.close()  # or killed: every append is flushed
        second = HistoryRing(tmp_path, max_bytes=1 << 20, max_age_seconds=3600)
        second.append(samples(110.0, 10))
        assert read_all(second) == samples(100.0, 20)
        assert len(second.segments()) == 1  # the unfilled segment is continued, not abandoned
