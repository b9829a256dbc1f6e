"""What an AgentRun's engine writes: step records, checkpoints of its status, Events, its ending.

Every checkpoint is one status merge patch carrying the whole run state, so whatever the
engine knew when it wrote last is what a restarted engine starts from.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from typing import Any

from naksha import metrics
from naksha.controllers.agentrun import guardrails
from naksha.domain.agentrun.runstate import RunState, now_text
from naksha.errors import NakshaError
from naksha.kube import Kube, KubeError, NotFound
from naksha.kube.events import event_about, post_event
from naksha.models.agentrun import GraphNode
from naksha.models.common import ObjectTarget
from naksha.models.group import API_VERSION
from naksha.models.resources import AGENT_RUNS

logger = logging.getLogger(__name__)


class RunGone(NakshaError):
    """The AgentRun itself no longer exists (deleted): its engine stops."""


class RunRecorder(abc.ABC):
    """The writing half of the engine; ``_outcome`` comes from the engine, which knows the plan."""

    def __init__(
        self,
        kube: Kube,
        body: dict[str, Any],
        run: RunState,
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
    def _outcome(self) -> dict[str, Any]:
        """The run's outcome as status reports it; the engine knows the playbooks it tried."""

    def _record(
        self, node: GraphNode, *, started: str | None = None, result: Any = None, error: str = ""
    ) -> None:
        self.run.step += 1
        record: dict[str, Any] = {
            "node": node.name,
            "type": node.type,
            "started": started or now_text(self.clock),
            "finished": now_text(self.clock),
        }
        if node.wpk:
            record["wpk"] = node.wpk
        if result:
            record["result"] = result
        if error:
            record["error"] = error
        self.run.steps.append(record)

    def _finish(self, phase: str, message: str, *, reason: str | None = None) -> None:
        self.run.phase = phase
        self.run.message = message
        self.run.current = None
        outcome = self._outcome()
        self._checkpoint(outcome=outcome, reason=reason)
        if outcome.get("resolved") and outcome.get("timeToRecoverSeconds") is not None:
            metrics.AGENT_RECOVERY_SECONDS.observe(outcome["timeToRecoverSeconds"])
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

    def _checkpoint(self, *, outcome: dict[str, Any] | None = None, reason: str | None = None) -> None:
        status = self.run.as_status()
        # A merge patch keeps keys it does not mention: finished waits are removed explicitly.
        gone = dict.fromkeys(self._pending_written - set(self.run.pending))
        status["pending"] = {**gone, **self.run.pending}
        status["observedGeneration"] = self.meta.get("generation")
        if outcome is not None:
            status["outcome"] = outcome
            status["finishedAt"] = now_text(self.clock)
        status["conditions"] = guardrails.conditions(self.run.phase, self.run.message, reason, self.clock)
        try:
            self.kube.merge_patch(AGENT_RUNS, self.namespace, self.name, {"status": status}, status=True)
            self._pending_written = set(self.run.pending)
        except NotFound as error:
            raise RunGone(f"AgentRun {self.namespace}/{self.name} is gone") from error
        except KubeError as error:
            logger.warning("checkpointing AgentRun %s/%s failed: %s", self.namespace, self.name, error)
            raise
