"""``naksha insight-worker``: one insight worker process, wired from its environment.

It serves ``/health``, ``/metrics`` (and ``/ingest``, ``/history`` for HTTP push streams), runs
the pull source into the pipeline, reports into the stream's status, and on SIGTERM finishes the
batch in flight, checkpoints and acknowledges it, writes a last report and exits 0. Pull sources
checkpoint the detector state with what they acknowledge (``insight.checkpoint``); an HTTP push
worker keeps its state in memory, and what it accepted in its history ring (``NAKSHA_HISTORY_DIR``)
for the detector tuner, whose URL its report carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
import time
from typing import Any

import prometheus_client
from aiohttp import web

from naksha.access import tls
from naksha.kube import Kube
from naksha.models.common import parse_duration
from naksha.models.insightstream import HttpSource
from naksha.services.insight.checkpoint import StateBook
from naksha.services.insight.config import WorkerConfig
from naksha.services.insight.dispatch import TriggerDispatcher
from naksha.services.insight.history_ring import HistoryRing
from naksha.services.insight.http_api import build_app
from naksha.services.insight.ingest_guard import HistoryGuard, IngestGuard
from naksha.services.insight.models import DEFAULT_INTERVAL, ModelFollower
from naksha.services.insight.pipeline import Pipeline
from naksha.services.insight.reporter import StatusReporter
from naksha.services.insight.sources import PullSource
from naksha.services.insight.sources.kafka import KafkaSource
from naksha.services.insight.sources.redis_streams import RedisStreamSource
from naksha.services.insight.state_store import ConfigMapStore
from naksha.services.insight.telemetry import WorkerMetrics
from naksha.workloads.insight import INGEST_TLS_MOUNT

logger = logging.getLogger(__name__)


def build_source(config: WorkerConfig, state: StateBook, kube: Kube) -> PullSource | None:
    source = config.spec.source
    interval = parse_duration(config.spec.checkpoint_interval)
    if source.kafka is not None:
        return KafkaSource(
            source.kafka,
            client_id=config.worker,
            dead_letter_topic=config.dead_letter_target,
            state=state,
            store=ConfigMapStore(kube, namespace=config.namespace, stream=config.stream),
            checkpoint_seconds=interval,
        )
    if source.redis is not None:
        assert config.redis_url is not None
        return RedisStreamSource(
            source.redis,
            url=config.redis_url,
            consumer=config.worker,
            dead_letter_stream=config.dead_letter_target,
            state=state,
            checkpoint_seconds=interval,
        )
    return None


class InsightWorker:
    """The parts of one worker; ``run`` blocks until ``stop`` (or SIGTERM when installed)."""

    def __init__(self, config: WorkerConfig, *, kube: Kube | None = None, host: str = "0.0.0.0") -> None:
        self.config = config
        self.kube = kube or Kube()
        self.host = host
        self.metrics = WorkerMetrics(config.stream)
        self.dispatcher = TriggerDispatcher(
            config.spec,
            namespace=config.namespace,
            stream=config.stream,
            kube=self.kube,
            metrics=self.metrics,
        )
        self.pipeline = Pipeline(
            config.spec,
            stream=config.stream,
            metrics=self.metrics,
            dispatcher=self.dispatcher,
            max_items=config.max_items_per_payload,
            # Each HTTP worker process counts under its own shard: nothing carries its counts over.
            http_shard=f"http/{config.worker}/{int(time.time() * 1000)}",
        )
        self.source = build_source(config, self.pipeline.state, self.kube)
        if self.source is not None:
            self.pipeline.dead_letter = self.source.dead_letter
            self.pipeline.report_committed = True
        self.reporter = StatusReporter(
            self.kube,
            namespace=config.namespace,
            stream=config.stream,
            worker=config.worker,
            snapshot=self.snapshot,
        )
        self.stopping = asyncio.Event()
        self.port = config.http_port
        self.models = ModelFollower(
            self.kube,
            config.namespace,
            self.pipeline.bank,
            config.spec.detectors,
            interval=min(
                (parse_duration(d.model.poll_interval) for d in config.spec.detectors if d.model),
                default=DEFAULT_INTERVAL,
            ),
        )
        self.dispatcher.detector_version = self.models.version_of
        self.history_error: str | None = None
        if self.source is None:
            self.pipeline.history = self._history_ring()

    def _history_ring(self) -> HistoryRing | None:
        directory = os.environ.get("NAKSHA_HISTORY_DIR")
        if not directory:
            self.history_error = "NAKSHA_HISTORY_DIR is not set: this worker keeps no history"
            return None
        settings = (self.config.spec.source.http or HttpSource()).history
        try:
            return HistoryRing(
                directory, max_bytes=settings.max_bytes, max_age_seconds=parse_duration(settings.max_age)
            )
        except OSError as error:
            # Ingest goes on without a ring; the report says why a tuner cannot replay this worker.
            self.history_error = f"the history ring cannot be kept in {directory}: {error}"
            logger.error("%s", self.history_error)
            return None

    def history_report(self) -> dict[str, Any]:
        ring = self.pipeline.history
        if ring is None:
            return {"error": self.history_error}
        host = os.environ.get("NAKSHA_POD_IP") or (
            self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        )
        http = self.config.spec.source.http
        scheme = "https" if http is not None and http.tls_secret_ref is not None else "http"
        return {"url": f"{scheme}://{_url_host(host)}:{self.port}/history", **ring.stats()}

    def snapshot(self) -> dict[str, Any]:
        report = self.pipeline.report()
        # Shards that end with this pod (Redis consumers, HTTP processes) are retired by the
        # operator once the pod is gone; Kafka partitions live on with their next reader.
        report["shardsEndWithPod"] = self.source.pod_bound if self.source is not None else True
        report["checkpointError"] = self.pipeline.state.last_error
        report["lag"] = self.source.lag() if self.source is not None else None
        report["sourceError"] = self.source.error if self.source is not None else None
        if self.models.following:
            report["models"] = self.models.state()
        if self.source is None:
            report["history"] = self.history_report()
        return report

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "stream": f"{self.config.namespace}/{self.config.stream}",
            "source": self.config.spec.source.type,
            "sourceError": self.source.error if self.source is not None else None,
            "models": self.models.state(),
        }

    def stop(self) -> None:
        self.stopping.set()

    def _tls(self) -> ssl.SSLContext | None:
        """The ingest port's TLS, from the mounted Secret (``spec.source.http.tlsSecretRef``)."""
        http = self.config.spec.source.http
        if http is None or http.tls_secret_ref is None:
            return None
        directory = os.environ.get("NAKSHA_INGEST_TLS_DIR", INGEST_TLS_MOUNT)
        context = tls.server_context(
            directory, client_ca=os.path.join(directory, "ca.crt") if http.mtls else ""
        )
        if http.mtls:
            # Probes carry no certificate: the handshake lets them in, /ingest requires one.
            context.verify_mode = ssl.CERT_OPTIONAL
        return context

    async def run(self, *, handle_signals: bool = False) -> None:
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        ingest = self.pipeline.ingest if self.source is None else None
        http = self.config.spec.source.http
        guard = IngestGuard(self.config.namespace, self.config.stream, http, self.kube) if http else None
        ring = self.pipeline.history
        app = build_app(
            metrics=self.metrics,
            health=self.health,
            ingest=ingest,
            max_body_bytes=self.config.max_body_bytes,
            guard=guard,
            history=ring,
            history_guard=HistoryGuard(self.config.namespace, self.config.stream, self.kube)
            if ring
            else None,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.config.http_port, ssl_context=self._tls())
        await site.start()
        self.port = _bound_port(runner) or self.config.http_port
        logger.info("insight worker %s serving on :%d", self.config.worker, self.port)
        # The last report follows the source's last checkpoint, so it carries the final counts.
        consumed = asyncio.Event()
        reporting = asyncio.create_task(self.reporter.run(consumed), name="report")
        following = None
        if self.models.following:
            following = asyncio.create_task(self.models.run(self.stopping), name="models")
        consuming = None
        if self.source is not None:
            consuming = asyncio.create_task(self.source.run(self.pipeline.handle), name="consume")
        try:
            stop_wait = asyncio.create_task(self.stopping.wait())
            waiting: set[asyncio.Task[Any]] = {stop_wait} | ({consuming} if consuming else set())
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if consuming is not None and consuming in done:
                consuming.result()  # a failure in the pipeline ends the worker; the pod restarts it
        finally:
            self.stopping.set()
            if self.source is not None:
                self.source.stop()
            if consuming is not None and not consuming.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(consuming, timeout=30)
            consumed.set()
            if following is not None:
                await following
            await reporting
            if self.source is not None:
                await self.source.close()
            await runner.cleanup()
            if ring is not None:
                ring.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _bound_port(runner: web.AppRunner) -> int | None:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return None


def run_insight_worker() -> int:
    level = os.environ.get("NAKSHA_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series: noise
    config = WorkerConfig.from_env()
    asyncio.run(InsightWorker(config).run(handle_signals=True))
    return 0
