"""The hub's HTTP endpoints, each refusing bad input with its status and a reason before doing anything.

``POST /federation/register``   bootstrap token + node key + proof of possession → node credential
``POST /federation/heartbeat``  node credential; capabilities, version, load → lease renewed (memory)
``POST /federation/rotate``     node credential or not, plus a proof signed by the node's key → new credential
``GET  /federation/triggers``   node credential; long poll (``?wait=30s``) → signed triggers
``POST /federation/results``    node credential; results of triggers → recorded once
``GET  /healthz``

Bodies are capped (413) and must arrive within ``body_timeout`` (408, slow clients); JSON that
is not the endpoint's shape is 400. Each node and each source address has a token bucket (429).
Refusals are logged with their reason; nothing is created or changed for a refused request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from naksha import __version__
from naksha.domain.federation import tokens
from naksha.domain.federation.ratelimit import RateLimiter
from naksha.domain.federation.refusals import RefusalReason, Refused
from naksha.models.common import DNS_LABEL_PATTERN, parse_duration
from naksha.models.conditions import Reason
from naksha.models.edgenode import EdgeNodeStatus
from naksha.services.hub.deliveries import Deliveries
from naksha.services.hub.ledger import DurableLedger
from naksha.services.hub.registry import NodeRecord, Registry, stamp
from naksha.services.hub.settings import HubSettings
from naksha.services.hub.store import HubStore

logger = logging.getLogger(__name__)
VERIFIED_CACHE = 50_000
HEARTBEAT_OK = b'{"ok":true}'


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    capabilities: list[str] = Field(default_factory=list, max_length=64)
    agent_version: str = Field(default="", max_length=64, alias="agentVersion")
    load: dict[str, float] = Field(default_factory=dict, max_length=16)

    def wire(self) -> dict[str, Any]:
        return {"capabilities": self.capabilities, "agentVersion": self.agent_version, "load": self.load}


class Registration(Report):
    bootstrap_token: str = Field(alias="bootstrapToken", max_length=tokens.MAX_TOKEN_BYTES)
    node: str = Field(pattern=DNS_LABEL_PATTERN, max_length=63)
    public_key: str = Field(alias="publicKey", max_length=1024)
    proof: str = Field(max_length=tokens.MAX_TOKEN_BYTES)


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node: str = Field(pattern=DNS_LABEL_PATTERN, max_length=63)
    proof: str = Field(max_length=tokens.MAX_TOKEN_BYTES)


class Result(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    jti: str = Field(min_length=1, max_length=128)
    outcome: str = Field(pattern="^(Succeeded|Failed|Refused|Interrupted)$")
    exit_code: int | None = Field(default=None, alias="exitCode")
    output: str = Field(default="", max_length=8192)
    reason: str = Field(default="", max_length=1024)


class Results(BaseModel):
    model_config = ConfigDict(extra="forbid")

    results: list[Result] = Field(min_length=1, max_length=100)


class Hub:
    def __init__(
        self,
        settings: HubSettings,
        store: HubStore,
        registry: Registry,
        ledger: DurableLedger,
        deliveries: Deliveries,
        key: tokens.PrivateKey,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.ledger = ledger
        self.deliveries = deliveries
        self.key = key
        self.public_key = key.public_key()
        self.hub_public_pem = tokens.public_pem(self.public_key)
        self._verified: dict[str, tokens.Verified] = {}
        self.per_node = RateLimiter(settings.rate_per_node, settings.burst_per_node)
        self.per_address = RateLimiter(settings.rate_per_address, settings.burst_per_address)
        self.refusals: dict[str, int] = {}

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes, middlewares=[self._refusing])
        app.router.add_post("/federation/register", self.register)
        app.router.add_post("/federation/heartbeat", self.heartbeat)
        app.router.add_post("/federation/rotate", self.rotate)
        app.router.add_get("/federation/triggers", self.triggers)
        app.router.add_post("/federation/results", self.results)
        app.router.add_get("/healthz", self.healthz)
        return app

    @web.middleware
    async def _refusing(self, request: web.Request, handler: Any) -> web.StreamResponse:
        address = request.remote or "unknown"
        try:
            if not self.per_address.allow(address, time.monotonic()):
                raise Refused(429, RefusalReason.RATE_LIMITED, f"too many requests from {address}")
            response: web.StreamResponse = await handler(request)
            return response
        except Refused as refused:
            self.refusals[str(refused.reason)] = self.refusals.get(str(refused.reason), 0) + 1
            logger.warning("refused %s %s from %s: %s", request.method, request.path, address, refused)
            return web.json_response(refused.body(), status=refused.status)

    # --- helpers --------------------------------------------------------------------------------

    async def _body(self, request: web.Request, model: type[BaseModel]) -> Any:
        if request.content_length is not None and request.content_length > self.settings.max_body_bytes:
            raise Refused(
                413, RefusalReason.BODY_TOO_LARGE, f"body over {self.settings.max_body_bytes} bytes"
            )
        try:
            if request.content.is_eof():
                raw = await request.read()  # all there already (the usual small body): no timer
            else:
                async with asyncio.timeout(self.settings.body_timeout):
                    raw = await request.read()
        except TimeoutError:
            raise Refused(408, RefusalReason.SLOW_CLIENT, "the body did not arrive in time") from None
        except web.HTTPRequestEntityTooLarge:
            raise Refused(
                413, RefusalReason.BODY_TOO_LARGE, f"body over {self.settings.max_body_bytes} bytes"
            ) from None
        try:
            return model.model_validate_json(raw)
        except ValidationError as error:
            if any(e["type"] == "json_invalid" for e in error.errors()):
                raise Refused(
                    400, RefusalReason.MALFORMED_BODY, f"not JSON: {error.errors()[0]['msg']}"
                ) from None
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise Refused(400, RefusalReason.MALFORMED_BODY, problems[:500]) from None

    def _node(self, request: web.Request) -> NodeRecord:
        token = tokens.bearer(request.headers.get("Authorization"))
        now = time.time()
        verified = self._verified.get(token)
        if verified is None or now >= verified.expires + tokens.LEEWAY:
            # A credential is re-sent with every call: its signature is checked once, its expiry
            # every time (above), its node's standing every time (authenticate).
            verified = tokens.verify(
                token, self.public_key, kind=tokens.NODE, audience=tokens.HUB_AUDIENCE, now=now
            )
            if len(self._verified) >= VERIFIED_CACHE:
                self._verified.clear()
            self._verified[token] = verified
        record = self.registry.authenticate(verified)
        if not self.per_node.allow(record.name, time.monotonic()):
            raise Refused(429, RefusalReason.RATE_LIMITED, f"node {record.name} calls too often")
        return record

    def _credential(self, node: str, key: tokens.PublicKey, record: NodeRecord | None) -> dict[str, Any]:
        ttl = self.settings.credential_ttl
        rotate_after = ttl / 2
        heartbeat = 30.0
        if record is not None and record.spec is not None:
            ttl = parse_duration(record.spec.credentials.token_ttl)
            rotate_after = min(parse_duration(record.spec.credentials.rotation_interval), ttl / 2)
            heartbeat = parse_duration(record.spec.heartbeat_interval)
        credential = tokens.mint_node_credential(
            self.key, namespace=self.store.namespace, node=node, node_key=key, ttl=ttl, now=time.time()
        )
        return {
            "credential": credential,
            "expiresIn": ttl,
            "rotateAfter": rotate_after,
            "heartbeatInterval": heartbeat,
            "hubPublicKey": self.hub_public_pem,
            "namespace": self.store.namespace,
            "node": node,
        }

    # --- endpoints ------------------------------------------------------------------------------

    async def register(self, request: web.Request) -> web.Response:
        body: Registration = await self._body(request, Registration)
        now = time.time()
        bootstrap = tokens.verify(
            body.bootstrap_token,
            self.public_key,
            kind=tokens.BOOTSTRAP,
            audience=tokens.REGISTER_AUDIENCE,
            now=now,
        )
        tokens.require_node(bootstrap, body.node)
        if bootstrap.namespace != self.store.namespace:
            raise Refused(
                403, RefusalReason.NODE_MISMATCH, f"bootstrap token for namespace {bootstrap.namespace!r}"
            )
        self.ledger.check(bootstrap.jti)
        try:
            node_key = tokens.load_public_pem(body.public_key)
        except ValueError as error:
            raise Refused(400, RefusalReason.MALFORMED_BODY, f"publicKey: {error}") from None
        tokens.verify(
            body.proof,
            node_key,
            kind=tokens.PROOF,
            audience=f"{tokens.HUB_AUDIENCE}/register",
            issuer=body.node,
            now=now,
            max_lifetime=tokens.MAX_PROOF_LIFETIME,
        )
        existing = self.registry.nodes.get(body.node)
        if existing is not None and existing.revoked:
            raise Refused(403, RefusalReason.NODE_REVOKED, f"EdgeNode {body.node} is revoked")
        node = (
            existing.body if existing is not None else await asyncio.to_thread(self.store.get_node, body.node)
        )
        if node is None:
            node = await asyncio.to_thread(
                self.store.create_node, body.node, approved=self.settings.approval == "auto"
            )
            self.registry.upsert(node)
        record = self.registry.nodes[body.node]
        thumbprint = tokens.thumbprint(node_key)
        if not record.approved:
            if (node.get("status") or {}).get("pendingKeyThumbprint") != thumbprint:
                waiting = EdgeNodeStatus(pending_key_thumbprint=thumbprint, phase="AwaitingApproval")
                await asyncio.to_thread(self.store.write_status, body.node, waiting.wire())
                await asyncio.to_thread(
                    self.store.node_event,
                    node,
                    "Normal",
                    Reason.NODE_AWAITING_APPROVAL,
                    f"key {thumbprint} waits for `naksha edge approve {body.node}`",
                )
            return web.json_response({"status": "AwaitingApproval", "node": body.node}, status=202)
        await self.ledger.use(bootstrap.jti, bootstrap.expires)
        status = EdgeNodeStatus(
            public_key=tokens.public_pem(node_key),
            key_thumbprint=thumbprint,
            pending_key_thumbprint=None,  # assigned, so written as null: the key is no longer waiting
            registered_time=stamp(now),
            node_id=body.node,
        )
        written = await asyncio.to_thread(self.store.write_status, body.node, status.wire())
        if written is not None:
            self.registry.upsert(written)
        self.registry.registered(record, node_key, body.wire(), now)
        await asyncio.to_thread(
            self.store.node_event, node, "Normal", Reason.NODE_REGISTERED, f"registered with key {thumbprint}"
        )
        logger.info("registered EdgeNode %s (key %s)", body.node, thumbprint)
        return web.json_response(self._credential(body.node, node_key, record))

    async def heartbeat(self, request: web.Request) -> web.Response:
        record = self._node(request)
        if record.blacked_out:
            # 503, not 403: the agent keeps heartbeating (as when the hub is unreachable) and the
            # node turns Ready again as soon as the blackout is lifted.
            raise Refused(
                503, RefusalReason.HEARTBEAT_BLACKOUT, f"heartbeats of EdgeNode {record.name} are blacked out"
            )
        report: Report = await self._body(request, Report)
        self.registry.heartbeat(record, report.wire(), time.time())
        # The one answer a heartbeat gets, encoded once: the hot path does no JSON encoding.
        return web.Response(body=HEARTBEAT_OK, content_type="application/json")

    async def rotate(self, request: web.Request) -> web.Response:
        body: Rotation = await self._body(request, Rotation)
        record = self.registry.nodes.get(body.node)
        if record is None or record.public_key is None:
            raise Refused(403, RefusalReason.NODE_UNKNOWN, f"no registered EdgeNode {body.node!r}")
        if record.revoked:
            raise Refused(403, RefusalReason.NODE_REVOKED, f"EdgeNode {body.node} is revoked")
        proof = tokens.verify(
            body.proof,
            record.public_key,
            kind=tokens.PROOF,
            audience=f"{tokens.HUB_AUDIENCE}/rotate",
            issuer=body.node,
            now=time.time(),
            max_lifetime=tokens.MAX_PROOF_LIFETIME,
        )
        # Proofs live minutes: a memory of their ids (in the replay ledger's check) suffices.
        self.ledger.ledger.use(proof.jti, proof.expires, time.time(), what="proof")
        if not self.per_node.allow(record.name, time.monotonic()):
            raise Refused(429, RefusalReason.RATE_LIMITED, f"node {record.name} calls too often")
        return web.json_response(self._credential(record.name, record.public_key, record))

    async def triggers(self, request: web.Request) -> web.Response:
        record = self._node(request)
        wait = _seconds(request.query.get("wait", "0"), self.settings.max_wait)
        due = await self.deliveries.poll(record.name, wait)
        return web.json_response({"triggers": due})

    async def results(self, request: web.Request) -> web.Response:
        record = self._node(request)
        body: Results = await self._body(request, Results)
        answers: dict[str, str] = {}
        for result in body.results:
            try:
                answers[result.jti] = await self.deliveries.record(
                    record.name, result.model_dump(by_alias=True)
                )
            except Refused as refused:
                logger.warning("result %s of node %s refused: %s", result.jti, record.name, refused)
                answers[result.jti] = str(refused.reason)
        values = set(answers.values())
        status = 200 if "recorded" in values else 409 if values == {"duplicate"} else 403 if values else 200
        return web.json_response({"results": answers}, status=status)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "version": __version__, "nodes": len(self.registry.nodes)})


def _seconds(text: str, cap: float) -> float:
    try:
        value = float(text.removesuffix("s"))
    except ValueError:
        raise Refused(
            400, RefusalReason.MALFORMED_BODY, f"wait {text!r} is not a number of seconds"
        ) from None
    return max(0.0, min(value, cap))
