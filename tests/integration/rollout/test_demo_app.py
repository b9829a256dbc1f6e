"""``naksha demo-app`` serves a version with exactly the error rate and latency it is given."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.support import ROOT
from tests.support.demo_app import demo_app, status_of


def test_a_quarter_of_requests_fail_exactly_and_metrics_count_them_by_code():
    with demo_app(NAKSHA_DEMO_VERSION="v2", NAKSHA_DEMO_ERROR_RATE="0.25") as url:
        codes = [status_of(url) for _ in range(100)]
        metrics = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
    assert codes.count(500) == 25 and codes.count(200) == 75
    assert codes[:4] == [200, 200, 200, 500]  # spread evenly, not in a burst
    assert 'demo_http_requests_total{code="500",version="v2"} 25.0' in metrics
    assert 'demo_http_requests_total{code="200",version="v2"} 75.0' in metrics


def test_the_configured_latency_is_served():
    with demo_app(NAKSHA_DEMO_LATENCY="80ms") as url:
        started = time.perf_counter()
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        elapsed = time.perf_counter() - started
    assert body == "v1\n"
    assert elapsed >= 0.08


def test_a_bad_setting_is_refused_with_its_name():
    result = subprocess.run(
        [sys.executable, "-m", "naksha", "demo-app"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "operator"), "NAKSHA_DEMO_ERROR_RATE": "2"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "NAKSHA_DEMO_ERROR_RATE must be a number between 0 and 1" in result.stderr
