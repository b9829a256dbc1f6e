"""What an AgentRun's engine writes: step records, checkpoints of its status, Events, its ending.

Every checkpoint is one status merge patch carrying the whole run state (the typed
``AgentRunStatus``), so whatever the engine knew when it wrote last is what a restarted engine
starts from. This is the one place a run's status is written while it runs.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from typing import Any

from naksha import metrics
from naksha.controllers.agentrun import guardrails
from naksha.domain.agentrun.runstate import add_step, now_text, read_run, set_run_conditions
from naksha.errors import NakshaError
from naksha.kube import Conflict, KubeApi, KubeError, NotFound
from naksha.kube.events import event_about, post_event
from naksha.models.agentrun import AgentRunStatus, GraphNode, RunOutcome, StepRecord
from naksha.models.common import ObjectTarget
from naksha.models.conditions import Reason
from naksha.models.group import API_VERSION
from naksha.models.resources import AGENT_RUNS

logger = logging.getLogger(__name__)


class RunGone(NakshaError):
    """The AgentRun itself no longer exists (deleted): its engine stops."""


class RunRecorder(abc.ABC):
    """The writing half of the engine; ``_outcome`` comes from the engine, which knows the plan."""

    def __init__(
        self,
        kube: KubeApi,
        body: dict[str, Any],
        run: AgentRunStatus,
        target: ObjectTarget | None,
        clock: Callable[[], float],
    ) -> None:
        self.kube = kube
        self.meta = body["metadata"]
        self.namespace = self.meta["namespace"]
        self.name = self.meta["name"]
        self.run = run
        self.target = target
        self.clock = clock
        self._pending_written = set(run.pending)

    @abc.abstractmethod
    def _outcome(self) -> RunOutcome:
        """The run's outcome as status reports it; the engine knows the playbooks it tried."""

    def _record(
        self, node: GraphNode, *, started: str | None = None, result: Any = None, error: str = ""
    ) -> None:
        record = StepRecord(
            node=node.name,
            type=node.type,
            started=started or now_text(self.clock),
            finished=now_text(self.clock),
            wpk=node.wpk or None,
            result=result or None,
            error=error or None,
        )
        add_step(self.run, record)

    def _finish(self, phase: str, message: str, *, reason: Reason | None = None) -> None:
        self.run.phase = phase
        self.run.message = message
        self.run.current_node = None
        outcome = self._outcome()
        self._checkpoint(outcome=outcome, reason=reason)
        if outcome.resolved and outcome.time_to_recover_seconds is not None:
            metrics.AGENT_RECOVERY_SECONDS.observe(outcome.time_to_recover_seconds)
        guardrails.release(self.kube, self.namespace, self.name, self.target)
        kind = "Normal" if phase == "Succeeded" else "Warning"
        self._event(kind, reason or phase, message)

    def _event(self, kind: str, reason: str, message: str) -> None:
        involved = {
            "apiVersion": API_VERSION,
            "kind": "AgentRun",
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.meta.get("uid"),
        }
        post_event(
            self.kube,
            event_about(involved, reason=reason, message=message, kind=kind, component="naksha-agent"),
        )

    def _checkpoint(self, *, outcome: RunOutcome | None = None, reason: Reason | None = None) -> None:
        run = self.run
        run.observed_generation = self.meta.get("generation")
        if outcome is not None:
            run.outcome = outcome
            run.finished_at = now_text(self.clock)
        set_run_conditions(run, reason, self.meta.get("generation"), now_text(self.clock))
        status = run.wire()
        # A merge patch keeps keys it does not mention: finished waits are removed explicitly.
        gone = dict.fromkeys(self._pending_written - set(run.pending))
        status["pending"] = {**gone, **status.get("pending", {})}
        try:
            self.kube.merge_patch(AGENT_RUNS, self.namespace, self.name, {"status": status}, status=True)
            self._pending_written = set(self.run.pending)
        except NotFound as error:
            raise RunGone(f"AgentRun {self.namespace}/{self.name} is gone") from error
        except KubeError as error:
            logger.warning("checkpointing AgentRun %s/%s failed: %s", self.namespace, self.name, error)
            raise


def report_pending(kube: KubeApi, body: dict[str, Any], job: str) -> None:
    """A run handed to an executor Job: Pending, naming the Job, until the Job's engine writes."""
    meta = body["metadata"]
    run = read_run(body.get("status"))
    run.job = job
    run.message = f"waiting for Job {job} to run the graph"
    run.observed_generation = meta.get("generation")
    set_run_conditions(run, Reason.JOB_PENDING, meta.get("generation"), now_text())
    # The engine's recorder writes every later status; this one write happens before the Job
    # exists, guarded by the resourceVersion read, so it never overwrites the engine's progress.
    patch = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": run.wire()}
    try:
        kube.merge_patch(AGENT_RUNS, meta["namespace"], meta["name"], patch, status=True)
    except Conflict:
        pass  # the run changed since it was read: its engine (or a user) wrote first, which wins
    except NotFound as error:
        raise RunGone(f"AgentRun {meta['namespace']}/{meta['name']} is gone") from error
    except KubeError as error:
        logger.warning("AgentRun %s/%s: reporting Pending failed: %s", meta["namespace"], meta["name"], error)
