"""The graph runner: one AgentRun, node by node, checkpointed in its status as it goes.

Acting, verifying and waiting nodes are written as soon as they are done; observe and decide
nodes change nothing, so their records go out with the next write (before any later action).

Exactly-once actions: before an act node changes anything, its work package plans absolute
values and the plan is written to ``status.actions[<key>]`` (the key is derived from the run's
uid, the node and the step number). Only then is it applied, and the result written. A run that
restarts (operator or Job pod killed) finds the plan: with a result it moves on, without one it
applies the same plan again, which changes nothing if the first attempt got through.

``verify`` nodes poll their work package until ``not state.anomalous`` holds or the node's
``timeout`` (default ``spec.timeouts.step``) passes; a failed verification reverts the run's
reversible actions, newest first, and follows the node's edges with ``state.recovered`` false
(or ends the run ``Failed`` with the evidence). A run older than ``spec.timeouts.run`` ends
``Failed`` with reason ``RunTimeout``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from naksha import metrics
from naksha.controllers.agentrun import fence, guardrails
from naksha.controllers.agentrun.playbooks import resolve, validate
from naksha.controllers.agentrun.recorder import RunGone, RunRecorder
from naksha.controllers.agentrun.wpk import NotYet, WpkContext, WpkError, lookup
from naksha.crashpoints import crash_point
from naksha.domain.agentrun.playbooks import PlaybookError, render_params
from naksha.domain.agentrun.runstate import RunState, now_text, outcome
from naksha.domain.expressions import ExpressionError, compile_expression
from naksha.kube import Kube, KubeError, NotFound
from naksha.models.agentrun import AgentRunSpec, Graph, GraphNode
from naksha.models.common import parse_duration
from naksha.models.resources import AGENT_RUNS
from naksha.settings import OperatorSettings

logger = logging.getLogger(__name__)
TERMINAL = frozenset({"Succeeded", "Failed", "Rejected", "Refused"})
POLL_SECONDS = 1.0  # between checks of a waiting run (approval, wait, verification)


class Engine(RunRecorder):
    """Runs one AgentRun to the end; ``run_once`` does one node, ``run`` loops until done or told to stop."""

    def __init__(
        self,
        kube: Kube,
        body: dict[str, Any],
        *,
        settings: OperatorSettings | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        spec: AgentRunSpec | None = None,
    ) -> None:
        spec = spec or AgentRunSpec.model_validate(body.get("spec") or {})
        super().__init__(kube, body, RunState.from_status(dict(body.get("status") or {})), spec.target, clock)
        self.settings = settings or OperatorSettings()
        self.sleep = sleep
        self.spec = spec
        self.graph: Graph | None = None

    # --- the loop ----------------------------------------------------------------------------

    def run_to_end(self, stopping: Callable[[], bool] = lambda: False) -> str:
        try:
            while self.run.phase not in TERMINAL and not stopping():
                if not self.run_once():
                    self.sleep(POLL_SECONDS)
        except RunGone:
            logger.info("AgentRun %s/%s is gone; its engine stops", self.namespace, self.name)
        return self.run.phase

    def run_once(self) -> bool:
        """One step; False when the run is waiting (approval, a wait, a verification) and nothing moved."""
        if self.run.phase in TERMINAL:
            return False
        if self.graph is None and not self._load_graph():
            return True
        assert self.graph is not None
        if self.run.phase in ("Pending", "AwaitingApproval"):
            return self._admit()
        node = self._node(self.run.current or self.graph.start)
        started = self.run.state.get("startedAt")
        limit = parse_duration(self.spec.timeouts.run)
        if isinstance(started, (int, float)) and self.clock() - started > limit:
            self._finish(
                "Failed",
                f"the run exceeded spec.timeouts.run ({self.spec.timeouts.run}) at node {node.name}",
                reason="RunTimeout",
            )
            return True
        if self.run.step >= self.graph.max_steps:
            self._finish(
                "Failed", f"the step limit of {self.graph.max_steps} was reached at node {node.name}"
            )
            return True
        try:
            return self._execute(node)
        except guardrails.Refusal as refusal:
            self._refuse(refusal)
        except (WpkError, ExpressionError, PlaybookError) as error:
            self._record(node, error=str(error))
            self._finish("Failed", f"node {node.name}: {error}")
        except KubeError as error:
            if error.retryable:
                raise  # the API is struggling: the caller retries the step later
            self._record(node, error=str(error))
            self._finish("Failed", f"node {node.name}: the API refused: {error}")
        return True

    # --- admission, approval, guardrails -----------------------------------------------------

    def _candidates(self) -> list[str | None]:
        """The playbooks this run may try in order: its own (None when inline), then the fallbacks."""
        first = self.spec.playbook_ref.name if self.spec.playbook_ref else None
        return [first, *(ref.name for ref in self.spec.fallbacks)]

    def _load_graph(self) -> bool:
        candidate = int(self.run.state.get("candidate") or 0)
        try:
            # The fence before anything is read (a playbook in another namespace) or done, and
            # again with the graph's own parameters once it is known.
            fence.enforce(self.settings, self.namespace, self.spec)
            if candidate == 0 and self.spec.graph is not None:
                validate(self.spec.graph, source="spec.graph")
                graph = self.spec.graph
            else:
                ref = self.spec.playbook_ref if candidate == 0 else self.spec.fallbacks[candidate - 1]
                assert ref is not None
                graph = resolve(self.kube, self.namespace, ref.name, ref.namespace)
            fence.enforce(self.settings, self.namespace, self.spec, [graph])
        except PlaybookError as error:
            self._finish("Failed", str(error), reason="InvalidPlaybook")
            return False
        except guardrails.Refusal as refusal:
            self._refuse(refusal)
            return False
        self.graph = graph
        return True

    def _fall_back(self, node: GraphNode) -> bool:
        """After a failed verification, switch to the next candidate playbook if one is left."""
        candidate = int(self.run.state.get("candidate") or 0) + 1
        if candidate >= len(self._candidates()):
            return False
        tried = [*self.run.state.get("playbooksTried", [self._candidates()[0] or "inline"])]
        self.run.state.update(
            candidate=candidate, recovered=None, playbooksTried=[*tried, self._candidates()[candidate]]
        )
        self._record(node, result={"fallback": self._candidates()[candidate]})
        if not self._load_graph():
            return True
        assert self.graph is not None
        self.run.current = self.graph.start
        self._checkpoint()
        return True

    def _admit(self) -> bool:
        try:
            guardrails.check_allowed(self.settings, self.namespace, self.spec.target)
            if self.run.phase == "Pending":  # once, before anything runs; acting checks again
                guardrails.check_target_exists(self.kube, self.namespace, self.spec.target)
        except guardrails.Refusal as refusal:
            self._refuse(refusal)
            return True
        if self.spec.approval.required:
            if self.run.phase == "AwaitingApproval":
                # The verdict arrives as an annotation on the run: read the run as it is now.
                try:
                    self.meta = self.kube.get(AGENT_RUNS, self.namespace, self.name)["metadata"]
                except NotFound as error:
                    raise RunGone(f"AgentRun {self.namespace}/{self.name} is gone") from error
            verdict = guardrails.approval(self.meta, self.spec.approval, self.run.started_at, self.clock)
            if verdict == "pending":
                if self.run.phase != "AwaitingApproval":
                    self.run.phase = "AwaitingApproval"
                    self.run.started_at = self.run.started_at or now_text(self.clock)
                    self.run.message = (
                        "waiting for approval (annotate naksha.io/approval=approved or rejected)"
                    )
                    self._checkpoint()
                    return True
                return False
            if verdict == "rejected":
                self._finish("Rejected", "the run was rejected", reason="Rejected")
                return True
            if verdict == "expired":
                self._finish("Failed", "no approval within spec.approval.timeout", reason="ApprovalTimeout")
                return True
        self.run.phase = "Running"
        self.run.started_at = self.run.started_at or now_text(self.clock)
        self.run.state.setdefault("startedAt", self.clock())
        return True  # written with the first node's checkpoint

    def fail(self, message: str, reason: str = "ExecutorFailed") -> None:
        """End the run from outside the graph (its executor gave up), releasing what it holds."""
        if self.run.phase not in TERMINAL:
            self._finish("Failed", message, reason=reason)

    def _refuse(self, refusal: guardrails.Refusal) -> None:
        self._finish("Refused", str(refusal), reason=refusal.reason)

    # --- nodes -------------------------------------------------------------------------------

    def _node(self, name: str) -> GraphNode:
        assert self.graph is not None
        return next(node for node in self.graph.nodes if node.name == name)

    def _variables(self) -> dict[str, Any]:
        target = self.spec.target.model_dump(by_alias=True) if self.spec.target else {}
        return {
            "state": self.run.state,
            "inputs": dict(self.spec.inputs),
            "signal": self.spec.signal.model_dump(by_alias=True),
            "target": target,
        }

    def _context(self, key: str = "") -> WpkContext:
        return WpkContext(
            self.kube,
            self.namespace,
            self.name,
            self.spec.target,
            self.run.state,
            signal=self.spec.signal.model_dump(by_alias=True, exclude_none=True),
            dry_run=self.spec.dry_run,
            key=key,
            clock=self.clock,
        )

    def _execute(self, node: GraphNode) -> bool:
        if node.type == "end":
            recovered = self.run.state.get("recovered")
            if recovered is False and self._fall_back(node):
                return True
            self._record(node)
            self._finish(
                "Failed" if recovered is False else "Succeeded",
                "not recovered" if recovered is False else "done",
                reason=None,
            )
            return True
        result: dict[str, Any] | None = {}
        if node.type in ("observe", "act", "verify"):
            assert node.wpk is not None
            params = render_params(node.params, self._variables())
            fence.enforce_params(self.settings, self.namespace, node.name, lookup(node.wpk), params)
            if node.type == "act":
                result = self._act(node, params)
            elif node.type == "verify":
                result = self._verify(node, params)
            else:
                result = self._observe(node, params)
        if result is None:
            return False  # still waiting; the node's pending record keeps its deadline
        pending = self.run.pending.pop(self._pending_key(node), {})
        self._record(node, started=pending.get("started"), result=result)
        self.run.current = self._next(node)
        if node.type in ("act", "verify") or pending:
            self._checkpoint()
        # Observe and decide nodes change nothing: their records go out with the run's next write
        # (an action's intent, a wait, the end), so a crash before it only repeats a read.
        return True

    def _pending_key(self, node: GraphNode) -> str:
        return f"{node.name}@{self.run.step}"

    def _pending(self, node: GraphNode, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """A waiting node's record (its plan, its deadline), written once so a restart keeps it."""
        key = self._pending_key(node)
        if key not in self.run.pending:
            self.run.pending[key] = {"started": now_text(self.clock), **make()}
            self._checkpoint()
        return self.run.pending[key]

    def _observe(self, node: GraphNode, params: dict[str, Any]) -> dict[str, Any] | None:
        assert node.wpk is not None
        package = lookup(node.wpk)
        parsed = package.parse_params(params)
        context = self._context()
        try:
            if package.waits:
                plan = self._pending(node, lambda: {"plan": package.plan(context, parsed)})["plan"]
            else:
                plan = package.plan(context, parsed)
            result = package.apply(context, parsed, plan)
        except NotYet:
            return None
        self.run.state.update(result)
        return result

    def _act(self, node: GraphNode, params: dict[str, Any]) -> dict[str, Any]:
        assert node.wpk is not None
        package = lookup(node.wpk)
        parsed = package.parse_params(params)
        key = hashlib.sha256(
            f"{self.meta.get('uid', self.name)}/{node.name}/{self.run.step}".encode()
        ).hexdigest()[:32]
        context = self._context(key)
        action = self.run.actions.get(key)
        if action is None:
            context.target_object = guardrails.before_action(
                self.kube,
                self.settings,
                self.namespace,
                self.name,
                self.spec.target,
                self.clock,
                dry_run=self.spec.dry_run,
                key=key,  # counted in the rate window under the plan's own key: once, even if replayed
            )
            plan = package.plan(context, parsed)
            action = {
                "node": node.name,
                "wpk": node.wpk,
                "params": params,
                "plan": plan,
                "startedAt": now_text(self.clock),
                "dryRun": self.spec.dry_run,
            }
            self.run.actions[key] = action
            self.run.state.setdefault("firstActionAt", self.clock())
            self._checkpoint()  # the intent is durable before anything changes
            crash_point("agentrun.before-apply")
        if "result" not in action:
            # Written with the node's record, right after: a crash before that applies the same
            # absolute plan again, which changes nothing.
            action["result"] = package.apply(context, parsed, action["plan"])
            action["finishedAt"] = now_text(self.clock)
            metrics.AGENT_ACTIONS.labels(node.wpk, str(self.spec.dry_run).lower()).inc()
        self.run.state[node.name] = action["result"]
        return dict(action["result"])

    def _verify(self, node: GraphNode, params: dict[str, Any]) -> dict[str, Any] | None:
        """One check; None while not recovered and the node's window is open."""
        assert node.wpk is not None
        package = lookup(node.wpk)
        parsed = package.parse_params(params)
        window = parse_duration(node.timeout or self.spec.timeouts.step)
        pending = self._pending(node, lambda: {"deadline": self.clock() + window})
        context = self._context()
        result = package.apply(context, parsed, package.plan(context, parsed))
        if "anomalous" not in result:
            raise WpkError(f"{node.wpk} gave no verdict to verify (e.g. query-metric needs above/below)")
        self.run.state.update(result)
        if compile_expression("not state.anomalous")(self._variables()):
            self.run.state["recovered"] = True
            self.run.state["recoveredAt"] = self.clock()
            return result
        if self.clock() < pending["deadline"] and not self.spec.dry_run:
            return None
        self.run.state["recovered"] = False
        self.run.state["reverted"] = self._revert_all()
        return result

    def _revert_all(self) -> list[str]:
        reverted = []
        for key, action in reversed(list(self.run.actions.items())):
            package = lookup(action["wpk"])
            if package.revert is None or "result" not in action or action.get("reverted"):
                continue
            package.revert(self._context(key), package.parse_params(action["params"]), action["plan"])
            action["reverted"] = now_text(self.clock)
            reverted.append(f"{action['node']}:{action['wpk']}")
            self._checkpoint()
        return reverted

    def _next(self, node: GraphNode) -> str | None:
        variables = self._variables()
        for edge in node.edges:
            if edge.when is None or compile_expression(edge.when)(variables):
                return edge.to
        if node.next:
            return node.next
        if node.type == "verify" and self.run.state.get("recovered") is False:
            return self._first_end()
        raise PlaybookError(f"node {node.name}: no edge matched and there is no next node")

    def _first_end(self) -> str:
        assert self.graph is not None
        return next(node.name for node in self.graph.nodes if node.type == "end")

    def _outcome(self) -> dict[str, Any]:
        candidates = self._candidates()
        return outcome(
            self.run,
            detected_at=self.spec.signal.detected_at,
            playbook=candidates[int(self.run.state.get("candidate") or 0)] or "inline",
            first_playbook=candidates[0] or "inline",
        )
