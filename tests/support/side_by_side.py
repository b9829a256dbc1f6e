"""``make test``'s runner: the test passes (emulator, real control plane) side by side, one verdict.

Each pass is a whole pytest command line, named: ``python -m tests.support.side_by_side
"emulator=pytest ..." "real=pytest --backend=real ..."``. The passes mostly wait on timers
(reconcile ticks, brokers' sessions, the real controllers' resyncs), not on the CPU, so running
them at the same time takes little longer than the longer one. They share nothing that could
collide: each starts its own control plane, brokers and Prometheus on ports reserved machine-wide
(``naksha.local.ports``, which those servers' starters use too), pod and Service addresses come
from machine-wide locked pools, the temporary directories are pytest's own per session, and
each pass writes its own JUnit file.

Every output line is printed as it comes, prefixed with its pass's name, and kept whole in
``reports/pytest-<name>.log``; at the end a summary gives each pass's verdict line, exit code and
wall time, then the ``FAILED``/``ERROR`` lines of pytest's short summary (so the last screen of a
CI log names what failed, even when the log file is gone), and the exit code is non-zero when any
pass failed (or collected nothing).
``--one-after-the-other`` runs them in order instead (for a machine short of memory).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPORTS = Path("reports")
# pytest's last line: "==== 1270 passed, 5 skipped in 1080.12s (0:18:00) ====" (or its -q form).
VERDICT = re.compile(r"\b(passed|failed|error|errors|skipped|deselected|no tests ran)\b.* in [0-9.]+s")
# pytest's short test summary names each failure on a line of its own ("-r fE", the default).
FAILURE = re.compile(r"^(FAILED|ERROR) \S+\.py")  # not a captured log line ("ERROR    kopf...")
# Enough to name every failure of a bad run without burying the verdicts above them.
MOST_FAILURES_SHOWN = 40


@dataclass
class Pass:
    name: str
    command: list[str]
    log_path: Path
    verdict: str = ""
    failures: list[str] = field(default_factory=list)
    returncode: int | None = None
    seconds: float = 0.0

    def run(self, printer: threading.Lock) -> None:
        started = time.monotonic()
        with self.log_path.open("w") as log:
            try:
                process = subprocess.Popen(
                    self.command,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    errors="replace",
                    bufsize=1,
                )
            except OSError as error:
                self.verdict, self.returncode = f"could not start {self.command[0]}: {error}", 127
                return
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                if VERDICT.search(line):
                    self.verdict = line.strip().strip("= ")
                if FAILURE.match(line):
                    self.failures.append(line.rstrip())
                with printer:
                    sys.stdout.write(f"[{self.name}] {line}")
                    sys.stdout.flush()
            self.returncode = process.wait()
        self.seconds = time.monotonic() - started


def parse(argv: list[str]) -> tuple[list[Pass], bool]:
    parser = argparse.ArgumentParser(prog="python -m tests.support.side_by_side", description=__doc__)
    parser.add_argument("passes", nargs="+", metavar="NAME=COMMAND", help="a named pytest command line")
    parser.add_argument("--one-after-the-other", action="store_true", help="run the passes in order")
    options = parser.parse_args(argv)
    passes = []
    for text in options.passes:
        name, _, command = text.partition("=")
        if not name or not command.strip():
            parser.error(f"{text!r} is not NAME=COMMAND")
        passes.append(Pass(name, shlex.split(command), REPORTS / f"pytest-{name}.log"))
    return passes, options.one_after_the_other


def summary(passes: list[Pass], wall: float) -> tuple[str, bool]:
    ok = all(p.returncode == 0 for p in passes)
    width = max(len(p.name) for p in passes)
    lines = ["", "=" * 30 + " test passes " + "=" * 30]
    for p in passes:
        state = "ok" if p.returncode == 0 else f"FAILED (exit {p.returncode})"
        verdict = p.verdict or "no pytest summary line (see the log)"
        lines.append(f"{p.name:<{width}}  {state:<16} {p.seconds / 60:5.1f} min  {verdict}  [{p.log_path}]")
    for p in passes:
        if p.failures:
            lines.append(f"-- {p.name}: {len(p.failures)} failed or in error")
            lines.extend(f"   {line}" for line in p.failures[:MOST_FAILURES_SHOWN])
            if len(p.failures) > MOST_FAILURES_SHOWN:
                lines.append(f"   ... and {len(p.failures) - MOST_FAILURES_SHOWN} more in {p.log_path}")
    lines.append(f"{'all' if ok else 'NOT all'} passes green; wall time {wall / 60:.1f} min")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    passes, in_order = parse(sys.argv[1:] if argv is None else argv)
    REPORTS.mkdir(exist_ok=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    printer = threading.Lock()
    started = time.monotonic()
    if in_order:
        for p in passes:
            p.run(printer)
    else:
        threads = [threading.Thread(target=p.run, args=(printer,), name=p.name) for p in passes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    text, ok = summary(passes, time.monotonic() - started)
    print(text, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
