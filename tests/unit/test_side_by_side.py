"""``make test``'s runner: both passes run at the same time, and one failing pass fails the whole run."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import pytest
from tests.support import side_by_side


def command(text: str, *, code: int = 0, sleep: float = 0.0) -> str:
    script = f"import time, sys; time.sleep({sleep}); print({text!r}); sys.exit({code})"
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_both_passes_green_exit_zero_with_each_verdict_in_the_summary(capsys):
    code = side_by_side.main(
        [
            "emulator=" + command("==== 3 passed in 1.00s ===="),
            "real=" + command("==== 2 passed, 1 skipped in 2.00s ===="),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "[emulator] ==== 3 passed in 1.00s ====" in out and "[real] ==== 2 passed" in out
    summary = out.split("test passes")[1]
    assert "emulator  ok" in summary and "3 passed in 1.00s" in summary
    assert "real      ok" in summary and "2 passed, 1 skipped in 2.00s" in summary
    assert "all passes green" in summary
    assert Path("reports/pytest-real.log").read_text() == "==== 2 passed, 1 skipped in 2.00s ====\n"


def test_one_failing_pass_fails_the_run_and_is_named(capsys):
    code = side_by_side.main(
        ["emulator=" + command("==== 1 failed, 3 passed in 1.00s ====", code=1), "real=" + command("ok")]
    )
    summary = capsys.readouterr().out.split("test passes")[1]
    assert code == 1
    assert "emulator  FAILED (exit 1)" in summary and "1 failed, 3 passed in 1.00s" in summary
    assert "real      ok" in summary and "NOT all passes green" in summary


def test_the_summary_names_each_failed_test_of_each_pass(capsys):
    emulator = "FAILED tests/a.py::test_x - AssertionError\n==== 1 failed in 1.00s ===="
    real = (
        "ERROR    kopf:api.py:125 a captured log line\n"
        "ERROR tests/b.py::test_y - TimeoutError\n==== 1 error in 1.00s ===="
    )
    code = side_by_side.main(
        ["emulator=" + command(emulator, code=1), "real=" + command(real, code=1), "other=" + command("ok")]
    )
    summary = capsys.readouterr().out.split("test passes")[1]
    assert code == 1
    assert "-- emulator: 1 failed or in error\n   FAILED tests/a.py::test_x - AssertionError" in summary
    assert "-- real: 1 failed or in error\n   ERROR tests/b.py::test_y - TimeoutError" in summary
    assert "-- other" not in summary


def test_a_pass_that_cannot_start_fails_the_run(capsys):
    assert side_by_side.main(["emulator=/nonexistent/pytest -q", "real=" + command("ok")]) == 1
    summary = capsys.readouterr().out.split("test passes")[1]
    assert "FAILED (exit 127)" in summary and "could not start /nonexistent/pytest" in summary
    assert "NOT all passes green" in summary


def test_the_passes_run_at_the_same_time_unless_asked_in_order():
    passes = ["a=" + command("x", sleep=1.5), "b=" + command("y", sleep=1.5)]
    started = time.monotonic()
    assert side_by_side.main(passes) == 0
    together = time.monotonic() - started
    started = time.monotonic()
    assert side_by_side.main(["--one-after-the-other", *passes]) == 0
    in_order = time.monotonic() - started
    assert in_order > 3.0 and together < in_order - 1.0


def test_a_pass_without_a_name_is_refused():
    with pytest.raises(SystemExit):
        side_by_side.main(["pytest -q"])
