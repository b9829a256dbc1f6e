"""Each worker's report into its InsightStream's status, rate-limited.

A worker patches only ``status.workers.<its pod name>`` (a merge patch on the status
subresource), so several workers never overwrite each other; the operator folds the entries
into the stream's totals and conditions. Reports are cumulative counters, so a lost or late
write costs freshness, never correctness.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from naksha.kube import Kube, KubeError
from naksha.models import timestamps
from naksha.models.resources import INSIGHT_STREAMS

logger = logging.getLogger(__name__)
REPORT_SECONDS = 2.0


class StatusReporter:
    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        stream: str,
        worker: str,
        snapshot: Callable[[], dict[str, Any]],
        interval: float = REPORT_SECONDS,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.stream = stream
        self.worker = worker
        self.snapshot = snapshot
        self.interval = interval
        self._last: dict[str, Any] | None = None
        self.writes = 0

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self.report()
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)
            except TimeoutError:
                continue
        await self.report()

    async def report(self) -> None:
        report = self.snapshot()
        if report == self._last:
            return
        stamped = {**report, "updatedAt": _now()}
        patch = {"status": {"workers": {self.worker: stamped}}}
        try:
            await asyncio.to_thread(
                self.kube.merge_patch, INSIGHT_STREAMS, self.namespace, self.stream, patch, status=True
            )
        except KubeError as error:
            logger.warning("reporting to insightstream %s/%s failed: %s", self.namespace, self.stream, error)
            return
        self._last = report
        self.writes += 1


def _now() -> str:
    return timestamps.now_text()
