"""Triggers: an anomaly on a bound detector becomes an AgentRun, exactly once per incident.

The AgentRun's name is derived from the incident's dedupe key, so the API server itself
refuses a second create (409) whether it comes from a replayed batch after a crash or from
another worker that saw the same series. On top of that, ``debounce`` keeps one series from
starting runs more often than the trigger allows, and ``maxConcurrent`` caps the trigger's
unfinished runs. Every outcome is counted by result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from naksha.domain.insight.detectors import Anomaly
from naksha.domain.insight.signals import agent_run_manifest, dedupe_key
from naksha.errors import NakshaError, RetryableError
from naksha.kube import Conflict, Kube, KubeError
from naksha.models.common import parse_duration
from naksha.models.insightstream import InsightStreamSpec, Trigger
from naksha.models.labels import TRIGGER_LABEL, TRIGGERED_BY_STREAM_LABEL
from naksha.models.resources import AGENT_RUNS
from naksha.services.insight.telemetry import WorkerMetrics

logger = logging.getLogger(__name__)
FINISHED_PHASES = frozenset({"Succeeded", "Failed", "Rejected", "Aborted", "Invalid"})
ATTEMPTS = 5
DEBOUNCE_MEMORY = 10_000


class DispatchError(NakshaError):
    """The API refused to create an AgentRun for a reason retrying did not fix."""


class TriggerDispatcher:
    def __init__(
        self, spec: InsightStreamSpec, *, namespace: str, stream: str, kube: Kube, metrics: WorkerMetrics
    ) -> None:
        self.namespace = namespace
        self.stream = stream
        self.kube = kube
        self.metrics = metrics
        self.by_detector: dict[str, list[Trigger]] = {}
        for trigger in spec.triggers:
            self.by_detector.setdefault(trigger.detector, []).append(trigger)
        # Debounce memory, checkpointed with the shard whose records fired it:
        # (trigger, series) -> (incident start, shard).
        self.last_fired: dict[tuple[str, Any], tuple[float, str]] = {}
        self.created = 0
        self.created_names: list[str] = []
        # The tuned version a detector runs (its model follower says), recorded on the runs it fires.
        self.detector_version: Callable[[str], str | None] = lambda _detector: None

    async def dispatch(self, anomalies: Iterable[Anomaly], shard: str = "") -> int:
        """Fire the triggers bound to each anomaly; returns how many of its incidents have their AgentRun
        (created now, or found already there: a replay of a batch whose run was created before a crash)."""
        started = 0
        for anomaly in anomalies:
            for trigger in self.by_detector.get(anomaly.detector, ()):
                result = await self._fire(trigger, anomaly, shard)
                self.metrics.agent_runs.labels(self.stream, trigger.name, result).inc()
                started += result in ("created", "duplicate")
        return started

    async def _fire(self, trigger: Trigger, anomaly: Anomaly, shard: str) -> str:
        debounce = parse_duration(trigger.debounce)
        series = (trigger.name, anomaly.series)
        last = self.last_fired.get(series)
        if last is not None and 0 <= anomaly.started_at - last[0] < debounce:
            return "debounced"
        key = dedupe_key(self.namespace, self.stream, trigger.name, anomaly, debounce)
        try:
            manifest = agent_run_manifest(
                self.namespace, self.stream, trigger, anomaly, key, self.detector_version(anomaly.detector)
            )
        except ValueError as error:
            logger.error("trigger %s cannot start an AgentRun: %s", trigger.name, error)
            return "invalid"
        unfinished = await self._unfinished_runs(trigger)
        if manifest["metadata"]["name"] in unfinished:
            result = "duplicate"  # this incident's run exists already (a replay, or a peer worker)
        elif len(unfinished) >= trigger.max_concurrent:
            return "throttled"
        else:
            result = await self._create(manifest)
        self._remember(series, anomaly.started_at, shard)
        return result

    async def _create(self, manifest: dict[str, Any]) -> str:
        delay = 0.2
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await asyncio.to_thread(self.kube.create, manifest)
            except Conflict:
                return "duplicate"
            except (KubeError, RetryableError) as error:
                if attempt == ATTEMPTS or (isinstance(error, KubeError) and not error.retryable):
                    raise DispatchError(
                        f"creating AgentRun {manifest['metadata']['name']}: {error}"
                    ) from error
                logger.warning("creating an AgentRun failed (%s); attempt %d of %d", error, attempt, ATTEMPTS)
                await asyncio.sleep(delay)
                delay *= 2
            else:
                self.created += 1
                self.created_names.append(manifest["metadata"]["name"])
                return "created"
        raise AssertionError("unreachable")

    async def _unfinished_runs(self, trigger: Trigger) -> set[str]:
        selector = f"{TRIGGERED_BY_STREAM_LABEL}={self.stream},{TRIGGER_LABEL}={trigger.name}"
        runs = await asyncio.to_thread(self.kube.list, AGENT_RUNS, self.namespace, label_selector=selector)
        return {
            str(run["metadata"]["name"])
            for run in runs
            if (run.get("status") or {}).get("phase") not in FINISHED_PHASES
        }

    def _remember(self, series: tuple[str, Any], when: float, shard: str) -> None:
        self.last_fired[series] = (when, shard)
        if len(self.last_fired) > DEBOUNCE_MEMORY:
            oldest = min(self.last_fired, key=lambda key: self.last_fired[key][0])
            del self.last_fired[oldest]
