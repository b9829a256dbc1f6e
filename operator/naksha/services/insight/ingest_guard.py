"""Who may push telemetry into a stream: the guard in front of a worker's ``POST /ingest``.

Telemetry can move production (a detector fires, an AgentRun scales or rolls back), so pushing
it is authorised like any other write: with ``spec.source.http.auth: kubernetes`` (the default)
the bearer token is checked with a TokenReview bound to ``spec.source.http.audience``, and the
caller must be allowed to ``create`` the virtual subresource ``insightstreams/ingest`` of this
stream (a SubjectAccessReview naming the stream). RBAC rather than a per-stream token: no secret
to hand out and rotate per producer, a producer is granted or revoked with a RoleBinding, and
``kubectl auth can-i create insightstreams --subresource=ingest`` answers who may push.

With ``mtls`` a verified client certificate is required as well. Each client — the
authenticated user, or the remote address when auth is off — has a token bucket
(``rateLimit``); failed authentications draw from a bucket of the remote address, so a sender
of bad tokens gets 429 before its tokens cost the API server more reviews. Refusals are 401
(who are you), 403 (RBAC says no), 429 (too fast, with ``Retry-After``), 413 (too large) and
503 (the cluster cannot be asked), each with its reason, counted in
``naksha_insight_ingest_refused_total{code}``. Reviews run in a thread (the client is blocking)
and are cached for a few seconds, so a steady producer costs the API server nothing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from naksha.access.identity import Denied, ReviewUnavailable, Unauthenticated
from naksha.access.reviews import Access, Authenticator, Authorizer, ReviewApi
from naksha.errors import NakshaError
from naksha.models.group import GROUP
from naksha.models.insightstream import HttpSource
from naksha.services.insight.history_ring import HISTORY_AUDIENCE

INGEST = Access("create", GROUP, "insightstreams", "ingest")
HISTORY = Access("get", GROUP, "insightstreams", "history")
MAX_CLIENTS = 10_000  # buckets kept; the least recently seen go first


class Refused(NakshaError):
    def __init__(self, status: int, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RateLimiter:
    """One token bucket per client, ``rate`` tokens a second up to ``burst``; bounded in clients."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client → (tokens, at)
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when the request may go; otherwise the seconds until it could."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait

    def waiting(self, client: str) -> float:
        """The seconds until ``client`` could take a token (0: now), taking none."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


@dataclass
class IngestGuard:
    namespace: str
    stream: str
    settings: HttpSource
    kube: ReviewApi | None = None
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(
            self.settings.rate_limit.requests_per_second, self.settings.rate_limit.burst, self.clock
        )
        # Failed authentications per remote address: a sender of bad tokens is slowed down before
        # its tokens reach the API server (each new token would cost a TokenReview).
        self.failures = RateLimiter(
            self.settings.rate_limit.requests_per_second, self.settings.rate_limit.burst, self.clock
        )
        self.authenticator: Authenticator | None = None
        self.authorizer: Authorizer | None = None
        if self.settings.auth == "kubernetes":
            if self.kube is None:
                raise ValueError("ingest auth kubernetes needs the Kubernetes API")
            self.authenticator = Authenticator(
                self.kube, audiences=[self.settings.audience], clock=self.clock
            )
            self.authorizer = Authorizer(self.kube, clock=self.clock)

    async def admit(self, authorization: str | None, remote: str, peer_certificate: bool) -> str:
        """The client's name when the push may go on; raises Refused with the status and reason."""
        if self.settings.mtls and not peer_certificate:
            raise Refused(401, "a client certificate signed by the stream's CA is required")
        client = remote or "unknown"
        if self.authenticator is not None and self.authorizer is not None:
            blocked = self.failures.waiting(client)
            if blocked > 0:
                raise Refused(429, f"too many failed authentications from {client}", retry_after=blocked)
            try:
                identity = await asyncio.to_thread(self.authenticator.authenticate, authorization)
                await asyncio.to_thread(
                    self.authorizer.require, identity, self.namespace, [INGEST], self.stream
                )
            except Unauthenticated as error:
                self.failures.take(client)
                raise Refused(401, str(error)) from None
            except Denied as error:
                raise Refused(403, str(error)) from None
            except ReviewUnavailable as error:
                raise Refused(503, str(error), retry_after=5.0) from None
            client = identity.user
        wait = self.limiter.take(client)
        if wait > 0:
            raise Refused(
                429,
                f"{client} is over the stream's limit of {self.settings.rate_limit.requests_per_second:g} "
                f"requests/s (burst {self.settings.rate_limit.burst})",
                retry_after=wait,
            )
        return client


@dataclass
class HistoryGuard:
    """Who may read a worker's history ring (``GET /history``): always authorised, whatever ``auth``
    says for ingest, since the ring is the stream's data. The token must be bound to
    ``HISTORY_AUDIENCE`` (so a token the worker sees is good for nothing else) and its identity
    allowed to ``get`` the virtual subresource ``insightstreams/history`` of this stream."""

    namespace: str
    stream: str
    kube: ReviewApi
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.authenticator = Authenticator(self.kube, audiences=[HISTORY_AUDIENCE], clock=self.clock)
        self.authorizer = Authorizer(self.kube, clock=self.clock)
        self.failures = RateLimiter(1.0, 10, self.clock)

    async def admit(self, authorization: str | None, remote: str) -> str:
        client = remote or "unknown"
        blocked = self.failures.waiting(client)
        if blocked > 0:
            raise Refused(429, f"too many failed authentications from {client}", retry_after=blocked)
        try:
            identity = await asyncio.to_thread(self.authenticator.authenticate, authorization)
            await asyncio.to_thread(self.authorizer.require, identity, self.namespace, [HISTORY], self.stream)
        except Unauthenticated as error:
            self.failures.take(client)
            raise Refused(401, str(error)) from None
        except Denied as error:
            raise Refused(403, str(error)) from None
        except ReviewUnavailable as error:
            raise Refused(503, str(error), retry_after=5.0) from None
        return identity.user
