"""The demo app as a process on a free port, and the status code of one request to it."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support import ROOT, eventually, free_port


@contextmanager
def demo_app(**env: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "naksha", "demo-app", "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "operator"), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: status_of(f"{url}/healthz") == 200)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def status_of(url: str) -> int:
    """The status code; 0 while nothing listens yet."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0
