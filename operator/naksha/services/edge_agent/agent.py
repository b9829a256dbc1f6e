"""The edge agent's loops: register once, heartbeat, rotate, pull and run triggers, upload results.

A trigger runs only after ``naksha.domain.federation.triggers.accept`` passed (pinned hub key,
audience, expiry, not replayed, allowed) and its ``jti`` is durable in the state directory. A
trigger delivered again after a kill is not run again: the agent answers ``Interrupted`` (or
uploads the result it had queued). While the hub is unreachable, heartbeats fail quietly, work
already received goes on, and results wait on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import orjson

from naksha import __version__
from naksha.domain.federation import allowlist, tokens, triggers
from naksha.domain.federation.refusals import Refused
from naksha.services.edge_agent.execute import execute
from naksha.services.edge_agent.state import StateDir

logger = logging.getLogger(__name__)
RETRY = 1.0


class HubRefused(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"hub answered {status}: {body}")
        self.status = status
        self.reason = body.get("reason") if isinstance(body, dict) else None


class EdgeAgent:
    def __init__(
        self,
        hub: str,
        state: StateDir,
        config: allowlist.AgentConfig,
        *,
        bootstrap_token_file: Path | None = None,
        ca_file: str | None = None,
        poll_wait: float = 30.0,
    ) -> None:
        self.hub = hub.rstrip("/")
        self.state = state
        self.config = config
        self.bootstrap_token_file = bootstrap_token_file
        self.ssl: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self.poll_wait = poll_wait
        self.key = state.node_key()
        self.ledger = state.ledger()
        self.identity: dict[str, Any] = {}
        self.heartbeat_failures = 0
        self.running: set[asyncio.Task[None]] = set()
        self.uploaded = asyncio.Event()

    # --- HTTP -----------------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, body: Any = None, *, auth: bool = True, timeout: float = 10.0
    ) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.identity['credential']}"
        data = orjson.dumps(body) if body is not None else None
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as session,
            session.request(method, self.hub + path, data=data, headers=headers, ssl=self.ssl) as response,
        ):
            payload = await response.json(content_type=None)
            if response.status >= 400 or response.status == 202:
                raise HubRefused(response.status, payload)
            return payload

    # --- registration and rotation --------------------------------------------------------------

    async def ensure_registered(self) -> None:
        """Use the identity of the state directory, or register once with the bootstrap token."""
        known = self.state.identity()
        if known is not None:
            self.identity = known
            return
        if self.bootstrap_token_file is None:
            raise SystemExit("naksha edge-agent: not registered yet and no --bootstrap-token given")
        bootstrap = self.bootstrap_token_file.read_text().strip()
        node = str(jwt.decode(bootstrap, options={"verify_signature": False}).get("sub", ""))
        while True:
            body = {
                "bootstrapToken": bootstrap,
                "node": node,
                "publicKey": tokens.public_pem(self.key.public_key()),
                "proof": tokens.mint_proof(self.key, node=node, use="register", now=time.time()),
                **self._report(),
            }
            try:
                answer = await self._call("POST", "/federation/register", body, auth=False)
            except HubRefused as refused:
                if refused.status == 202 or refused.status >= 500 or refused.status == 429:
                    logger.info("registration of %s waits: %s", node, refused)
                    await asyncio.sleep(RETRY * 3)
                    continue
                raise SystemExit(f"naksha edge-agent: registration refused: {refused}") from None
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                logger.warning("hub unreachable for registration: %s", error)
                await asyncio.sleep(RETRY)
                continue
            self._adopt(answer)
            logger.info("registered as %s/%s", answer["namespace"], node)
            return

    def _adopt(self, answer: dict[str, Any]) -> None:
        now = time.time()
        hub_key = answer.get("hubPublicKey") or self.identity.get("hubPublicKey")
        pinned = self.identity.get("hubPublicKey")
        if pinned and hub_key != pinned:
            raise SystemExit("naksha edge-agent: the hub presented another signing key than the pinned one")
        self.identity = {
            "node": answer["node"],
            "namespace": answer["namespace"],
            "hubPublicKey": hub_key,
            "credential": answer["credential"],
            "expiresAt": now + float(answer["expiresIn"]),
            "rotateAt": now + float(answer["rotateAfter"]),
            "heartbeatInterval": float(answer["heartbeatInterval"]),
        }
        self.state.save_identity(self.identity)

    async def rotate_loop(self) -> None:
        while True:
            wait = float(self.identity["rotateAt"]) - time.time()
            if wait > 0:
                await asyncio.sleep(min(wait, 5.0))
                continue
            proof = tokens.mint_proof(self.key, node=self.identity["node"], use="rotate", now=time.time())
            try:
                answer = await self._call(
                    "POST", "/federation/rotate", {"node": self.identity["node"], "proof": proof}, auth=False
                )
                self._adopt(answer)
                logger.info("credential rotated; next rotation in %.0fs", float(answer["rotateAfter"]))
            except (HubRefused, aiohttp.ClientError, TimeoutError, OSError) as error:
                logger.warning("rotation failed (will retry): %s", error)
                await asyncio.sleep(RETRY)

    # --- heartbeats -----------------------------------------------------------------------------

    def _report(self) -> dict[str, Any]:
        try:
            load1, _, _ = os.getloadavg()
        except OSError:
            load1 = 0.0
        return {
            "capabilities": list(self.config.capabilities),
            "agentVersion": __version__,
            "load": {"load1": load1},
        }

    async def heartbeat_loop(self) -> None:
        while True:
            try:
                await self._call("POST", "/federation/heartbeat", self._report())
            except HubRefused as refused:
                self.heartbeat_failures += 1
                logger.warning("heartbeat failed: %s", refused)
                if refused.status == 403:
                    logger.error("this node is no longer allowed (%s); stopping", refused.reason)
                    raise SystemExit(3) from None
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                self.heartbeat_failures += 1
                logger.warning("heartbeat failed, hub unreachable: %s", error)
            await asyncio.sleep(float(self.identity["heartbeatInterval"]))

    # --- triggers -------------------------------------------------------------------------------

    async def poll_loop(self) -> None:
        while True:
            try:
                answer = await self._call(
                    "GET", f"/federation/triggers?wait={self.poll_wait:.0f}s", timeout=self.poll_wait + 10
                )
            except (HubRefused, aiohttp.ClientError, TimeoutError, OSError) as error:
                logger.warning("trigger poll failed: %s", error)
                await asyncio.sleep(RETRY)
                continue
            for token in answer.get("triggers") or []:
                self.take(str(token))

    def take(self, token: str) -> None:
        """Verify one trigger and, if it passes, record it durably and run it (in the background)."""
        hub_key = tokens.load_public_pem(self.identity["hubPublicKey"])
        try:
            accepted = triggers.accept(
                token,
                hub_key,
                namespace=self.identity["namespace"],
                node=self.identity["node"],
                ledger=self.ledger,
                config=self.config,
                now=time.time(),
            )
        except Refused as refused:
            self._refused(token, refused)
            return
        try:
            self.ledger.use(accepted.jti, accepted.expires, time.time(), what="trigger")
        except Refused as refused:  # a full ledger: refuse rather than forget a live id
            self._refused(token, refused)
            return
        self.state.save_ledger(self.ledger)  # durable before it runs: at most once across a kill
        logger.info("running trigger %s (%s for %s)", accepted.jti, accepted.wpk, accepted.run.get("name"))
        task = asyncio.get_running_loop().create_task(self._run(accepted))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    def _refused(self, token: str, refused: Refused) -> None:
        logger.warning("trigger refused: %s", refused)
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return
        jti = str(claims.get("jti", ""))
        if refused.status == 409 and jti:
            if not self.state.queued(jti):
                # Started before a kill, its outcome unknown: report that rather than run it twice.
                reason = "the agent stopped while running it; it is not run again"
                self.state.queue({"jti": jti, "outcome": "Interrupted", "reason": reason})
            self.uploaded.set()
        elif refused.status in (400, 403) and jti and refused.reason != "WrongAudience":
            # Signed by our hub for us but not allowed here: say so, so the run ends clearly.
            self.state.queue(
                {"jti": jti, "outcome": "Refused", "reason": f"{refused.reason}: {refused.message}"}
            )
            self.uploaded.set()

    async def _run(self, accepted: triggers.AcceptedTrigger) -> None:
        result = await execute(accepted.execution)
        self.state.queue({"jti": accepted.jti, **result})
        self.uploaded.set()

    async def upload_loop(self) -> None:
        while True:
            pending = self.state.pending()
            if not pending:
                self.uploaded.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.uploaded.wait(), timeout=5.0)
                continue
            batch = pending[:50]
            results = [orjson.loads(path.read_bytes()) for path in batch]
            try:
                await self._call("POST", "/federation/results", {"results": results})
            except HubRefused as refused:
                if refused.status not in (403, 404, 409):
                    logger.warning("results not uploaded (will retry): %s", refused)
                    await asyncio.sleep(RETRY)
                    continue
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                logger.warning("results not uploaded, hub unreachable (%d queued): %s", len(pending), error)
                await asyncio.sleep(RETRY)
                continue
            # Accepted, a duplicate, or not the hub's to take: either way not to be sent again.
            for path in batch:
                path.unlink(missing_ok=True)

    async def run(self) -> None:
        await self.ensure_registered()
        await asyncio.gather(self.heartbeat_loop(), self.rotate_loop(), self.poll_loop(), self.upload_loop())
