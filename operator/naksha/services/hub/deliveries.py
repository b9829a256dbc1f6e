"""Trigger requests on their way to a node: signed once, delivered by long poll, result recorded once.

The requests are ConfigMaps (``naksha.domain.federation.requests``) that the hub watches. A new
request is checked against its node (known, approved, not revoked, not cordoned, Ready) and then
signed: the trigger (and its ``jti``) is written into the request before it is ever delivered, so
a restarted hub delivers the same trigger, never a second one. A request that cannot go gets a
``Refused`` result instead. Delivery is repeated (after ``redeliver_after``) until a result
arrives: the node remembers the ``jti`` it ran and never runs it again. A result is recorded
once; a replayed one changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import jwt

from naksha.domain.federation import lease, requests, tokens
from naksha.domain.federation.refusals import RefusalReason, Refused
from naksha.services.hub.registry import Registry, stamp
from naksha.services.hub.store import HubStore

logger = logging.getLogger(__name__)
MAX_OUTPUT = 4096


class Deliveries:
    def __init__(
        self, store: HubStore, registry: Registry, key: tokens.PrivateKey, redeliver_after: float
    ) -> None:
        self.store = store
        self.registry = registry
        self.key = key
        self.redeliver_after = redeliver_after
        self.requests: dict[str, requests.TriggerRequest] = {}
        self.by_jti: dict[str, str] = {}
        self.delivered_at: dict[str, float] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._busy: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    # --- the watch ------------------------------------------------------------------------------

    def observe(self, body: Mapping[str, Any]) -> requests.TriggerRequest | None:
        """Take a request as watched; returns it when it still needs signing."""
        try:
            request = requests.read_request(body)
        except ValueError as error:
            logger.warning("ignoring a malformed trigger request: %s", error)
            return None
        known = self.requests.get(request.name)
        if known is not None and known.result is not None and request.result is None:
            return None  # an older version of a request this hub already completed
        self.requests[request.name] = request
        if request.jti:
            self.by_jti[request.jti] = request.name
        if request.token and request.result is None:
            self._event(request.node).set()
        needs_signing = not request.token and request.result is None and request.name not in self._busy
        return request if needs_signing else None

    def forget(self, body: Mapping[str, Any]) -> None:
        name = str((body.get("metadata") or {}).get("name", ""))
        request = self.requests.pop(name, None)
        if request is not None:
            self.by_jti.pop(request.jti, None)

    # --- signing --------------------------------------------------------------------------------

    async def sign(self, request: requests.TriggerRequest) -> None:
        self._busy.add(request.name)
        try:
            refusal = self._refusal(request.node)
            if refusal is not None:
                await self._complete(request, {"outcome": "Refused", "reason": refusal, "node": request.node})
                return
            now = time.time()
            token = tokens.mint_trigger(
                self.key,
                namespace=self.store.namespace,
                node=request.node,
                wpk=request.wpk,
                params=request.params,
                run=request.run,
                ttl=min(request.ttl, tokens.MAX_TRIGGER_LIFETIME),
                now=now,
            )
            jti = str(
                tokens.verify(
                    token,
                    self.key.public_key(),
                    kind=tokens.TRIGGER,
                    audience=tokens.trigger_audience(self.store.namespace, request.node),
                    now=now,
                ).jti
            )
            labels = {requests.TRIGGER_LABEL: requests.PENDING}
            data = {
                "token": token,
                "jti": jti,
                "expires": str(now + min(request.ttl, tokens.MAX_TRIGGER_LIFETIME)),
            }
            written = await asyncio.to_thread(self.store.patch_trigger, request.name, data, labels)
            if written is not None:
                self.observe(written)
        finally:
            self._busy.discard(request.name)

    def _refusal(self, node: str) -> str | None:
        record = self.registry.nodes.get(node)
        if record is None or record.key_thumbprint is None:
            return f"EdgeNode {node} is not registered"
        if record.revoked:
            return f"EdgeNode {node} is revoked"
        if not record.schedulable:
            return f"EdgeNode {node} is cordoned (spec.unschedulable)"
        if record.last_heartbeat is None or lease.state_of(
            record.last_heartbeat, time.time(), record.policy
        ) != (lease.NodeState.READY):
            return f"EdgeNode {node} is not Ready"
        return None

    # --- delivery -------------------------------------------------------------------------------

    def _event(self, node: str) -> asyncio.Event:
        return self._wake.setdefault(node, asyncio.Event())

    def due(self, node: str, now: float) -> list[str]:
        tokens_due: list[str] = []
        for request in self.requests.values():
            if request.node != node or not request.token or request.result is not None:
                continue
            if now - self.delivered_at.get(request.name, -1e18) >= self.redeliver_after:
                tokens_due.append(request.token)
                self.delivered_at[request.name] = now
        return tokens_due

    async def poll(self, node: str, wait: float) -> list[str]:
        """The triggers due for ``node``, waiting up to ``wait`` seconds for one to arrive."""
        deadline = time.monotonic() + wait
        while True:
            event = self._event(node)
            event.clear()
            due = self.due(node, time.time())
            remaining = deadline - time.monotonic()
            if due or remaining <= 0:
                return due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(remaining, self.redeliver_after))

    # --- results --------------------------------------------------------------------------------

    async def record(self, node: str, result: Mapping[str, Any]) -> str:
        """Record one result; ``recorded`` or ``duplicate``. Refused when it is not this node's."""
        jti = str(result.get("jti", ""))
        name = self.by_jti.get(jti)
        request = self.requests.get(name) if name else None
        if request is None:
            raise Refused(404, RefusalReason.UNKNOWN_TRIGGER, f"no trigger {jti!r} is waiting for a result")
        if request.node != node:
            raise Refused(403, RefusalReason.NODE_MISMATCH, f"trigger {jti} was sent to another node")
        async with self._locks.setdefault(request.name, asyncio.Lock()):
            current = self.requests.get(request.name, request)
            if current.result is not None:
                return "duplicate"
            stored = {
                "outcome": str(result.get("outcome", "")),
                "exitCode": result.get("exitCode"),
                "output": str(result.get("output", ""))[:MAX_OUTPUT],
                "reason": str(result.get("reason", ""))[:MAX_OUTPUT],
                "node": node,
                "jti": jti,
                "recordedAt": stamp(time.time()),
            }
            await self._complete(current, stored)
        self._locks.pop(request.name, None)
        return "recorded"

    async def expire(self, now: float) -> None:
        """Requests whose trigger expired without a result get an ``Expired`` result."""
        for request in list(self.requests.values()):
            if request.result is None and request.token and request.name not in self._busy:
                expires = float(self._expiry(request))
                if now > expires + tokens.LEEWAY:
                    await self._complete(
                        request, {"outcome": "Expired", "node": request.node, "jti": request.jti}
                    )

    @staticmethod
    def _expiry(request: requests.TriggerRequest) -> float:
        claims = jwt.decode(request.token, options={"verify_signature": False})
        return float(claims.get("exp", 0))

    async def _complete(self, request: requests.TriggerRequest, result: Mapping[str, Any]) -> None:
        labels = {requests.TRIGGER_LABEL: requests.DONE}
        data = {"result": json.dumps(dict(result), sort_keys=True)}
        written = await asyncio.to_thread(self.store.patch_trigger, request.name, data, labels)
        if written is not None:
            self.observe(written)
        else:
            self.requests.pop(request.name, None)
