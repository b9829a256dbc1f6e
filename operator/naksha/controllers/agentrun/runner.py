"""The operator's AgentRun runner: one asyncio task per active run, steps in a bounded thread pool.

Tasks, not kopf daemons: a daemon makes kopf put a finalizer on every run, and that write
races with the engine's own status checkpoints (conflicts, retries). A run needs no finalizer:
deleting it only has to stop its task, which the engine notices (404) at its next step. On an
operator restart the runs that had not ended are started again and resume from their status.
Waiting (approval, ``wait``, verification windows) holds no thread: the task sleeps between polls.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import itertools
import logging
from typing import Any

from pydantic import ValidationError

from naksha import metrics
from naksha.controllers.agentrun import executor
from naksha.controllers.agentrun.engine import POLL_SECONDS, TERMINAL, Engine
from naksha.controllers.agentrun.recorder import RunGone
from naksha.kube import Kube
from naksha.models.agentrun import AgentRunSpec
from naksha.models.resources import AGENT_RUNS
from naksha.settings import OperatorSettings

logger = logging.getLogger(__name__)
JOB_POLL_SECONDS = 2.0
ENDED_KEPT = 100_000
RETRY_CAP_SECONDS = 60.0


class AgentRunner:
    def __init__(self, kube: Kube, settings: OperatorSettings) -> None:
        self.kube = kube
        self.settings = settings
        self.pool = concurrent.futures.ThreadPoolExecutor(
            settings.agent_workers, thread_name_prefix="agentrun"
        )
        self.tasks: dict[str, asyncio.Task[None]] = {}
        # Runs whose task ended here: events still in flight carry their older status and must not
        # start them again. Bounded; after a restart the first listing shows the final status anyway.
        self.ended: collections.OrderedDict[str, None] = collections.OrderedDict()

    def driving(self, uid: str) -> bool:
        """Whether the run's task is running here, or ran to its end here."""
        return uid in self.tasks or uid in self.ended

    def start(self, body: dict[str, Any], spec: AgentRunSpec | None = None) -> bool:
        """Drive the run in the background unless it ended or is driven already; True if started."""
        if (body.get("status") or {}).get("phase") in TERMINAL:
            return False
        uid = body["metadata"]["uid"]
        if self.driving(uid):
            return False
        name = f"agentrun {body['metadata']['namespace']}/{body['metadata']['name']}"
        task = asyncio.get_running_loop().create_task(self._drive(body, spec), name=name)
        self.tasks[uid] = task
        task.add_done_callback(lambda _: self._ended(uid))
        return True

    def _ended(self, uid: str) -> None:
        self.tasks.pop(uid, None)
        self.ended[uid] = None
        while len(self.ended) > ENDED_KEPT:
            self.ended.popitem(last=False)

    async def stop(self) -> None:
        """Cancel every task between steps (a step under way finishes in its thread) and wait."""
        for task in list(self.tasks.values()):
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.pool.shutdown(wait=True, cancel_futures=True)

    async def _drive(self, body: dict[str, Any], spec: AgentRunSpec | None) -> None:
        meta = body["metadata"]
        for attempt in itertools.count(1):
            try:
                engine = Engine(self.kube, body, settings=self.settings, spec=spec if attempt == 1 else None)
            except ValidationError:
                return  # reported as InvalidSpec by the handler
            try:
                if engine.spec.executor == "job":
                    phase = await self._supervise_job(body)
                else:
                    phase = await self._run_engine(engine)
                break
            except RunGone:
                logger.info("AgentRun %s/%s was deleted; its task ends", meta["namespace"], meta["name"])
                return
            except Exception:
                delay = min(RETRY_CAP_SECONDS, 2.0**attempt)
                logger.exception("AgentRun %s/%s: retrying in %.0fs", meta["namespace"], meta["name"], delay)
                await asyncio.sleep(delay)
                with contextlib.suppress(Exception):  # keep the last body if the API is still failing
                    body = await self._in_pool(self.kube.get, AGENT_RUNS, meta["namespace"], meta["name"])
        metrics.AGENT_RUNS.labels(phase).inc()
        logger.info("AgentRun %s/%s ended %s", meta["namespace"], meta["name"], phase)

    async def _in_pool(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    async def _run_engine(self, engine: Engine) -> str:
        while engine.run.phase not in TERMINAL:
            if not await self._in_pool(engine.run_once):
                await asyncio.sleep(POLL_SECONDS)
        return engine.run.phase

    async def _supervise_job(self, body: dict[str, Any]) -> str:
        job_name = await self._in_pool(executor.ensure_job, self.kube, body, self.settings)
        while True:
            phase = await self._in_pool(executor.job_verdict, self.kube, body, job_name, self.settings)
            if phase is not None:
                return str(phase)
            await asyncio.sleep(JOB_POLL_SECONDS)
