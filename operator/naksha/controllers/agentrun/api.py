"""The operator's AgentRun HTTP API: start a run from a signal or a telemetry point, read its status.

``POST /agent/run`` turns a request into an AgentRun object (so every guardrail of the engine
still applies: the API only writes the same object ``kubectl apply`` would) and answers 201 with
its name. A ``signalId`` makes the call idempotent: the run's name derives from it, and a second
call with the same id answers 200 with the first run instead of starting another.
``GET /agent/status/{name}?namespace=`` returns the run's phase, conditions and outcome.
Both need a bearer token, checked by the API's gate (``naksha.controllers.agentrun.api_auth``: Kubernetes
TokenReview and SubjectAccessReview, or the opt-in shared secret): 401 without a valid one, 403
when RBAC (or the token's scope) does not allow the request. Before a run is created every
namespace it would touch is checked against the caller's and the operator's fence
(``naksha.controllers.agentrun.fence``) and RBAC: 403 with the reason, and nothing is created.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import math
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import Field, ValidationError, field_validator

from naksha.access.identity import Denied, ReviewUnavailable, Unauthenticated
from naksha.controllers.agentrun import fence, guardrails
from naksha.controllers.agentrun.api_auth import Caller, Gate
from naksha.controllers.agentrun.playbooks import PlaybookError, resolve, validate
from naksha.domain.agentrun import tokens
from naksha.kube import Conflict, Kube, KubeError, NotFound
from naksha.models import timestamps
from naksha.models.agentrun import AgentRunSpec, Graph
from naksha.models.common import FreeForm, NakshaModel, ObjectTarget
from naksha.models.group import API_VERSION
from naksha.models.labels import SIGNAL_LABEL, SOURCE_LABEL
from naksha.models.resources import AGENT_RUNS

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 256 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Telemetry(NakshaModel):
    """One telemetry point, as an InsightStream would ingest it."""

    metric: str = Field(min_length=1, max_length=256)
    value: float
    labels: dict[str, str] = Field(default_factory=dict)
    timestamp: float | None = Field(default=None, description="Unix seconds; the time of arrival if absent.")

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value


class RunRequest(NakshaModel):
    """The body of ``POST /agent/run``: ``playbook`` (or a whole ``spec``) plus what to act on."""

    namespace: str = Field(default="default", min_length=1, max_length=63)
    playbook: str | None = None
    target: ObjectTarget | None = None
    inputs: FreeForm = Field(default_factory=dict)
    dry_run: bool | None = None
    signal_id: str | None = Field(default=None, min_length=1, max_length=253)
    telemetry: Telemetry | None = None
    spec: FreeForm = Field(default_factory=dict, description="A full AgentRun spec; the fields above win.")

    def manifest(self, received_at: float) -> dict[str, Any]:
        """The AgentRun to create; raises ValueError with the spec's own reason when it is invalid."""
        spec: dict[str, Any] = dict(self.spec)
        if self.playbook:
            spec["playbookRef"] = {"name": self.playbook}
        if self.target is not None:
            spec["target"] = self.target.model_dump(by_alias=True, exclude_none=True)
        if self.inputs:
            spec["inputs"] = {**dict(spec.get("inputs") or {}), **self.inputs}
        if self.dry_run is not None:
            spec["dryRun"] = self.dry_run
        signal: dict[str, Any] = dict(spec.get("signal") or {})
        signal.setdefault("source", "api")
        if self.signal_id:
            signal["dedupeKey"] = self.signal_id
        if self.telemetry is not None:
            point = self.telemetry
            stamp = point.timestamp if point.timestamp is not None else received_at
            signal["series"] = {"__name__": point.metric, **point.labels}
            signal["value"] = point.value
            signal["detectedAt"] = timestamps.to_text(stamp)
        spec["signal"] = signal
        try:
            AgentRunSpec.model_validate(spec)
        except ValidationError as error:
            raise ValueError(_first_errors(error)) from error
        metadata: dict[str, Any] = {"namespace": self.namespace, "labels": {SOURCE_LABEL: "api"}}
        if self.signal_id:
            digest = hashlib.sha256(f"{self.namespace}/{self.signal_id}".encode()).hexdigest()
            metadata["name"] = f"api-{digest[:20]}"
            metadata["labels"][SIGNAL_LABEL] = digest[:63]
            metadata["annotations"] = {SIGNAL_LABEL: self.signal_id}
        else:
            metadata["generateName"] = "api-"
        return {"apiVersion": API_VERSION, "kind": "AgentRun", "metadata": metadata, "spec": spec}


def _first_errors(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def summary(run: dict[str, Any]) -> dict[str, Any]:
    status = run.get("status") or {}
    return {
        "name": run["metadata"]["name"],
        "namespace": run["metadata"]["namespace"],
        "phase": status.get("phase") or "Pending",
        "currentNode": status.get("currentNode"),
        "message": status.get("message") or "",
        "conditions": status.get("conditions") or [],
        "outcome": status.get("outcome"),
        "steps": len(status.get("steps") or []),
    }


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


class AgentApi:
    """The routes, bound to a Kube client and a gate (``naksha.controllers.agentrun.api_auth``)."""

    def __init__(self, kube: Kube, gate: Gate, *, allowed: frozenset[str] | None = None) -> None:
        self.kube = kube
        self.gate = gate
        # Where the operator lets runs reach (``fence.allowed_namespaces``); None means anywhere.
        self.allowed = allowed

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._errors])
        app.router.add_post("/agent/run", self.start_run)
        app.router.add_get("/agent/status/{name}", self.run_status)
        app.router.add_get("/healthz", self.health)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except (tokens.Unauthorized, Unauthenticated) as error:
            return _error(401, str(error), **{"WWW-Authenticate": 'Bearer realm="naksha"'})
        except (tokens.Forbidden, Denied) as error:
            return _error(403, str(error))
        except guardrails.Refusal as error:
            return _error(403, str(error), **{"X-Naksha-Reason": error.reason})
        except ReviewUnavailable as error:
            return _error(503, str(error), **{"Retry-After": "5"})
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        except web.HTTPException as error:
            return _error(error.status, error.reason)
        except KubeError as error:
            logger.warning("AgentRun API: the Kubernetes API answered %s", error)
            return _error(502 if error.retryable else error.status, error.message)

    async def health(self, _: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _caller(self, request: web.Request) -> Caller:
        return await asyncio.to_thread(self.gate.caller, request.headers.get("Authorization"))

    def _served(self, namespace: str) -> None:
        if self.allowed is not None and namespace not in self.allowed:
            raise guardrails.Refusal(
                "NamespaceNotAllowed", f"this operator does not let runs reach namespace {namespace!r}"
            )

    async def _fence(self, caller: Caller, namespace: str, spec: AgentRunSpec) -> None:
        """403 unless every namespace the run would touch is inside the fences and RBAC allows it.

        The spec's own namespaces are checked before any playbook is read (a playbook in a
        namespace outside the fence is not even looked at), then the graphs' parameters.
        """
        first = await self._check_reach(caller, namespace, spec, [], {})
        graphs = await asyncio.to_thread(self._graphs, namespace, spec)
        await self._check_reach(caller, namespace, spec, graphs, first)

    async def _check_reach(
        self,
        caller: Caller,
        namespace: str,
        spec: AgentRunSpec,
        graphs: list[Graph],
        checked: dict[str, fence.Reach],
    ) -> dict[str, fence.Reach]:
        """Check what the run reaches; the gate is asked only what ``checked`` did not cover yet."""
        reached = fence.reach(namespace, spec, graphs)
        fence.check(
            namespace,
            reached,
            allowed=self.allowed,
            caller=caller.fence,
            caller_name=f"the token of {caller.subject!r}",
            target=spec.target,
        )
        new = {
            where: fence.Reach(where, entry.why, entry.access - checked[where].access)
            if where in checked
            else entry
            for where, entry in reached.items()
        }
        await asyncio.to_thread(self.gate.may_start, caller, namespace, new)
        return reached

    def _graphs(self, namespace: str, spec: AgentRunSpec) -> list[Graph]:
        """The graphs the run may execute: its inline graph, or its playbook and fallbacks."""
        if spec.graph is not None:
            validate(spec.graph, source="spec.graph")
            graphs = [spec.graph]
        else:
            assert spec.playbook_ref is not None
            graphs = [resolve(self.kube, namespace, spec.playbook_ref.name, spec.playbook_ref.namespace)]
        graphs += [resolve(self.kube, namespace, ref.name, ref.namespace) for ref in spec.fallbacks]
        problems = fence.target_problems(graphs, spec.target)
        if problems:
            raise PlaybookError("; ".join(problems))
        return graphs

    async def start_run(self, request: web.Request) -> web.Response:
        caller = await self._caller(request)  # 401 before the body is even read
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body must be a JSON object")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        try:
            run_request = RunRequest.model_validate(body)
        except ValidationError as error:
            return _error(400, _first_errors(error))
        self._served(run_request.namespace)
        try:
            manifest = run_request.manifest(received_at=_wall_clock())
        except ValueError as error:
            return _error(400, str(error))
        spec = AgentRunSpec.model_validate(manifest["spec"])
        try:
            await self._fence(caller, run_request.namespace, spec)
        except PlaybookError as error:
            return _error(400, str(error))
        try:
            created = await asyncio.to_thread(self.kube.create, manifest)
        except Conflict:
            # The first run of this signal: shown only to a caller who may read runs there.
            await asyncio.to_thread(self.gate.may_read, caller, run_request.namespace)
            existing = await asyncio.to_thread(
                self.kube.get, AGENT_RUNS, run_request.namespace, manifest["metadata"]["name"]
            )
            return web.json_response({**summary(existing), "duplicate": True}, status=200)
        except NotFound:
            return _error(404, f"namespace {run_request.namespace!r} not found")
        name = created["metadata"]["name"]
        logger.info("AgentRun %s/%s started through the API", run_request.namespace, name)
        return web.json_response({**summary(created), "duplicate": False}, status=201)

    async def run_status(self, request: web.Request) -> web.Response:
        namespace = request.query.get("namespace", "default")
        name = request.match_info["name"]
        caller = await self._caller(request)
        self._served(namespace)
        await asyncio.to_thread(self.gate.may_read, caller, namespace)
        try:
            run = await asyncio.to_thread(self.kube.get, AGENT_RUNS, namespace, name)
        except NotFound:
            return _error(404, f"AgentRun {namespace}/{name} not found")
        return web.json_response(summary(run))


def _wall_clock() -> float:
    return datetime.datetime.now(tz=datetime.UTC).timestamp()


async def serve(
    api: AgentApi, host: str, port: int, *, tls: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    """Start listening; returns the runner (to stop it) and the port (useful when 0 was asked)."""
    runner = web.AppRunner(api.application(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls)
    await site.start()
    bound = int(runner.addresses[0][1]) if runner.addresses else port
    return runner, bound
