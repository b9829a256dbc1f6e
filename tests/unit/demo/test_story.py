"""The story's bookkeeping: which scenes play, a failing scene does not stop the next, the printed lines."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import pytest

from naksha.demo.progress import Progress
from naksha.demo.scenes import SCENES, Scene, scene
from naksha.demo.stage import Stage
from naksha.demo.story import play
from naksha.demo.traffic import ERRORS_METRIC, LATENCY_METRIC, Traffic, p99
from naksha.errors import ConfigError


class Reached:
    ok = True


def stage(progress: Progress) -> Stage:
    # The story itself only talks through the progress; the scenes below touch nothing else.
    unused: Any = None
    return Stage(Path("kubeconfig"), "ns", "127.0.0.1:1", Path("."), Path("."), progress, unused)


def test_a_scene_without_its_controller_is_listed_with_the_reason_and_not_played():
    played: list[int] = []
    scenes = [
        Scene(
            7, "Needs a kind", "x", needs=("naksha.handlers.no_such_kind",), play=lambda s: played.append(7)
        ),
        Scene(8, "Has no script", "y", needs=("naksha.handlers.rollout",)),
    ]
    progress = Progress(None)
    reports = play(stage(progress), scenes)
    assert played == []
    assert reports[0].reason == "no controller for its kind (naksha.handlers.no_such_kind missing)"
    assert reports[1].reason == "its controllers are in this build but the scene's script is not"
    assert not reports[0].failed and not reports[1].failed
    assert progress.messages()[0].startswith("scene 7: Needs a kind — not available in this build: ")


def test_a_failing_scene_is_reported_and_the_next_scene_still_plays():
    def broken(_: Stage) -> object:
        raise ConfigError("the demo waited 90s for the scale-out")

    scenes = [Scene(1, "Breaks", "a", play=broken), Scene(2, "Works", "b", play=lambda s: Reached())]
    progress = Progress(None)
    first, second = play(stage(progress), scenes)
    assert first.failed and first.reason == "the demo waited 90s for the scale-out"
    assert second.played and second.ok and not second.failed
    assert "scene 1 failed: the demo waited 90s for the scale-out" in progress.messages(1)


def test_a_scene_that_ends_without_its_outcome_counts_as_failed():
    (report,) = play(stage(Progress(None)), [Scene(1, "Ends", "a", play=lambda s: object())])
    assert report.played and report.failed


def test_every_line_has_the_time_the_seconds_since_the_start_and_the_scene():
    clock = iter([1000.0, 1001.5, 1003.25]).__next__
    out = io.StringIO()
    progress = Progress(out, clock=clock)
    progress.begin_scene(3, "Roll out safely")
    progress.block("commit abc\n  file | 2 +-\n")
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d \+   1\.5s \[3\] scene 3: Roll out safely", lines[0])
    assert lines[1:] == ["    commit abc", "      file | 2 +-"]


def test_the_story_lists_all_five_scenes_in_order_and_finds_them_by_number():
    assert [s.number for s in SCENES] == [1, 2, 3, 4, 5]
    assert scene(3).title == "Roll out safely"
    with pytest.raises(ValueError, match="there is no scene 9; the scenes are 1, 2, 3, 4, 5"):
        scene(9)


def test_the_p99_of_a_window_is_its_nearest_rank_value():
    assert p99([0.1] * 99 + [2.0]) == 0.1
    assert p99([0.1] * 98 + [2.0, 3.0]) == 2.0
    assert p99([0.4]) == 0.4


class Producer:
    """Keeps what a window publishes, as the Kafka producer would send it."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> None:
        import orjson

        self.records.append({"topic": topic, **orjson.loads(value)})


def published(finished: list[tuple[float, bool]]) -> dict[str, float]:
    traffic = Traffic(bootstrap="127.0.0.1:1", topic="t", targets=list, labels={"service": "x"}, rate=1.0)
    traffic._finished = finished
    producer = Producer()
    asyncio.run(traffic._publish(producer, 1.0))
    return {record["metric"]: record["value"] for record in producer.records}


def test_a_failed_request_counts_as_an_error_and_not_as_latency():
    # A service with no pod left refuses slowly under load: an outage, not a slowdown.
    assert published([(0.1, False), (0.1, False), (3.0, True)]) == {
        LATENCY_METRIC: 0.1,
        ERRORS_METRIC: 0.3333,
    }
    assert published([(0.7, True)] * 4) == {LATENCY_METRIC: 0.0, ERRORS_METRIC: 1.0}
    assert published([(0.6, False), (0.1, False)]) == {LATENCY_METRIC: 0.6, ERRORS_METRIC: 0.0}
