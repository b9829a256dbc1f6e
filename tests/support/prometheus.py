"""A real Prometheus server for the tests, on a free loopback port, scraping what the tests name.

The binary is Debian's ``prometheus`` package (installed by ``scripts/system-deps.sh``). Its
generated configuration has one scrape job fed by file-based service discovery: a test names its
targets (``set_targets``: ``host:port`` list plus labels such as ``job``, ``namespace``, ``pod``)
and Prometheus picks the file up within a second. Everything is scraped every second, so a
``rate()`` over a few seconds has samples soon after a target appears.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support import free_port

SCRAPE_INTERVAL = "1s"


class PrometheusUnavailable(RuntimeError):
    """prometheus is not installed or did not become ready; the message says which and why."""


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


class PrometheusServer:
    def __init__(self, *, timeout: float = 60.0) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise PrometheusUnavailable(
                "prometheus is not installed (apt-get install prometheus; make setup)"
            )
        self._dir = tempfile.TemporaryDirectory(prefix="naksha-prometheus-")
        root = Path(self._dir.name)
        self.targets_dir = root / "targets"
        self.targets_dir.mkdir()
        config = {
            "global": {
                "scrape_interval": SCRAPE_INTERVAL,
                "scrape_timeout": SCRAPE_INTERVAL,
                "evaluation_interval": SCRAPE_INTERVAL,
            },
            "scrape_configs": [
                {
                    "job_name": "naksha-tests",
                    "file_sd_configs": [
                        {"files": [str(self.targets_dir / "*.json")], "refresh_interval": SCRAPE_INTERVAL}
                    ],
                }
            ],
        }
        # JSON is YAML: no YAML writer needed for the configuration.
        (root / "prometheus.yml").write_text(json.dumps(config, indent=2))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "prometheus.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={root / 'prometheus.yml'}",
                    f"--storage.tsdb.path={root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_bytes()[-2000:].decode(errors="replace")
                self._dir.cleanup()
                raise PrometheusUnavailable(f"prometheus exited with {self.process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise PrometheusUnavailable(f"prometheus was not ready on {self.url} within {timeout}s")

    def set_targets(self, name: str, targets: list[str], labels: dict[str, str] | None = None) -> None:
        """Scrape ``targets`` (``host:port``, /metrics) with ``labels``, in place of ``name``'s last set."""
        self.set_groups(name, [(target, labels or {}) for target in targets])

    def set_groups(self, name: str, groups: list[tuple[str, dict[str, str]]]) -> None:
        """Scrape each ``host:port`` with its own labels, in place of ``name``'s last set."""
        body = [{"targets": [target], "labels": labels} for target, labels in groups]
        path = self.targets_dir / f"{name}.json"
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(body))
        os.replace(partial, path)  # atomic: Prometheus never reads half a file

    def remove_targets(self, name: str) -> None:
        (self.targets_dir / f"{name}.json").unlink(missing_ok=True)

    def api(self, path: str, **params: str) -> dict[str, Any]:
        """A GET on the HTTP API; the decoded reply, errors included (Prometheus answers JSON for them)."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return dict(json.load(answer))
        except urllib.error.HTTPError as error:
            return dict(json.load(error))

    def active_targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets", state="active")["data"]["activeTargets"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._dir.cleanup()
