"""Crash points: a process dies by SIGKILL exactly where NAKSHA_CRASH_POINT says, and nowhere else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from naksha.crashpoints import ENV, ONCE_ENV, POINTS, crash_point

PROBE = """
import sys
from naksha.crashpoints import crash_point
print("before", flush=True)
crash_point(sys.argv[1])
print("after", flush=True)
"""


def run(point: str, named: str | None, once: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in (ENV, ONCE_ENV)}
    if named is not None:
        env[ENV] = named
    if once is not None:
        env[ONCE_ENV] = str(once)
    return subprocess.run(
        [sys.executable, "-c", PROBE, point], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_named_point_kills_the_process_there() -> None:
    done = run("agentrun.before-apply", "agentrun.before-apply")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split() == ["before"]
    assert "crash point agentrun.before-apply" in done.stderr


def test_another_point_or_no_point_carries_on() -> None:
    assert run("agentrun.before-apply", "rollout.before-gitops").stdout.split() == ["before", "after"]
    assert run("agentrun.before-apply", None).stdout.split() == ["before", "after"]


def test_with_a_once_marker_only_the_first_process_to_reach_the_point_dies(tmp_path: Path) -> None:
    marker = tmp_path / "fired"
    first = run("trainer.before-write", "trainer.before-write", once=marker)
    assert first.returncode == -signal.SIGKILL and first.stdout.split() == ["before"]
    assert marker.read_text().split()[0] == "trainer.before-write"
    for _ in range(2):  # every later attempt sees the marker and carries on
        later = run("trainer.before-write", "trainer.before-write", once=marker)
        assert later.returncode == 0 and later.stdout.split() == ["before", "after"]
        assert "fired once already" in later.stderr


def test_a_once_marker_for_another_point_neither_fires_nor_is_created(tmp_path: Path) -> None:
    marker = tmp_path / "fired"
    done = run("agentrun.before-apply", "trainer.before-write", once=marker)
    assert done.stdout.split() == ["before", "after"] and not marker.exists()


def test_an_unknown_point_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match=r"unknown crash point 'agentrun\.befor-apply'"):
        crash_point("agentrun.befor-apply")


def test_every_point_is_reached_somewhere_in_the_package() -> None:
    package = Path(__file__).resolve().parents[2] / "operator" / "naksha"
    source = "\n".join(p.read_text() for p in package.rglob("*.py") if p.name != "crashpoints.py")
    assert {point for point in POINTS if f'crash_point("{point}")' in source} == POINTS
