"""Authentication with TokenReview, authorisation with SubjectAccessReview, both cached briefly.

``Authenticator.authenticate`` turns an ``Authorization: Bearer`` header into an ``Identity``:
a JWT whose ``iss`` is a configured external issuer is verified locally (``naksha.access.issuers``);
every other token goes to the cluster as a ``TokenReview`` bound to the endpoint's audiences, so
a token minted for another audience (the API server's own, another service's) is refused.
``Authorizer.require`` asks one ``SubjectAccessReview`` per permission, so the caller can do
through Naksha only what RBAC lets them do themselves.

Answers are cached for a few seconds (``ttl``), in a cache bounded to ``max_entries`` (the oldest
go first), keyed by a hash of the token (never the token itself) or by the identity and the
permission. Refusals are cached too, so a flood of bad tokens costs the API server one review
each per ``ttl``. The API is reached through ``naksha.kube`` only (``ReviewApi`` is the part of
``Kube`` used here, so tests can pass an in-memory one).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt

from naksha.access.identity import Denied, Identity, ReviewUnavailable, Unauthenticated
from naksha.access.issuers import Issuers
from naksha.errors import RetryableError
from naksha.kube import KubeError

TOKEN_REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}
ACCESS_REVIEW = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview"}

__all__ = [
    "Access",
    "Authenticator",
    "Authorizer",
    "Denied",
    "Identity",
    "ReviewUnavailable",
    "Unauthenticated",
]


class ReviewApi(Protocol):
    def create(self, body: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True, order=True)
class Access:
    """One Kubernetes permission: ``verb`` on ``group``/``resource`` (``""`` is the core group)."""

    verb: str
    group: str
    resource: str
    subresource: str = ""

    def __str__(self) -> str:
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {resource}{'.' + self.group if self.group else ''}"


@dataclass
class TtlCache:
    """A small map whose entries expire after ``ttl`` seconds; the oldest go past ``max_entries``."""

    ttl: float
    max_entries: int
    clock: Callable[[], float] = time.monotonic
    _entries: OrderedDict[str, tuple[float, Any]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Keep ``value`` for ``ttl`` seconds (at most the cache's own ttl)."""
        keep = self.ttl if ttl is None else min(ttl, self.ttl)
        if keep <= 0:
            return
        with self._lock:
            self._entries[key] = (self.clock() + keep, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


class Authenticator:
    def __init__(
        self,
        kube: ReviewApi,
        *,
        audiences: Iterable[str],
        issuers: Issuers | None = None,
        ttl: float = 10.0,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.audiences = tuple(audiences)
        self.issuers = issuers
        self.cache = TtlCache(ttl, max_entries, clock)
        self.reviews = 0  # TokenReviews sent (the benchmark reads it)

    def authenticate(self, authorization: str | None) -> Identity:
        """The caller behind the header; raises Unauthenticated with the reason."""
        token = bearer_token(authorization)
        if self.issuers is not None and self.issuers.claims(token):
            return self.issuers.verify(token)
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self.cache.get(key)
        if cached is None:
            cached = self._review(token)
            # An accepted token is never trusted past its own expiry because it was cached.
            self.cache.put(key, cached, _seconds_left(token) if isinstance(cached, Identity) else None)
        if isinstance(cached, str):
            raise Unauthenticated(cached)
        assert isinstance(cached, Identity)
        return cached

    def _review(self, token: str) -> Identity | str:
        self.reviews += 1
        try:
            review = self.kube.create(
                {**TOKEN_REVIEW, "spec": {"token": token, "audiences": list(self.audiences)}}
            )
        except RetryableError as error:
            raise ReviewUnavailable(f"the cluster cannot review the request now: {error}") from None
        except KubeError as error:
            if error.retryable:
                raise ReviewUnavailable(f"the cluster cannot review the request now: {error}") from None
            raise Denied(
                f"this server may not review tokens (its ServiceAccount needs create tokenreviews): {error}"
            ) from None
        status = review.get("status") or {}
        if not status.get("authenticated"):
            return f"the cluster did not accept the token: {status.get('error') or 'not authenticated'}"
        bound = set(status.get("audiences") or [])
        if self.audiences and not bound & set(self.audiences):
            return f"the token is not bound to the audience {' or '.join(self.audiences)}"
        user = status.get("user") or {}
        extra = user.get("extra") or {}
        return Identity(
            user=str(user.get("username") or ""),
            groups=tuple(str(g) for g in user.get("groups") or ()),
            uid=str(user.get("uid") or ""),
            extra=tuple(sorted((str(k), tuple(str(v) for v in values)) for k, values in extra.items())),
        )


def _seconds_left(token: str) -> float | None:
    """Seconds until a JWT's ``exp`` (read, not verified: the cluster has just vouched for it)."""
    try:
        expiry = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None  # not a JWT: the cache's own ttl applies
    return float(expiry) - time.time() if isinstance(expiry, int | float) else None


class Authorizer:
    def __init__(
        self,
        kube: ReviewApi,
        *,
        ttl: float = 10.0,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.cache = TtlCache(ttl, max_entries, clock)
        self.reviews = 0  # SubjectAccessReviews sent

    def allowed(self, identity: Identity, namespace: str, access: Access, name: str = "") -> tuple[bool, str]:
        """RBAC's verdict and its reason, from the cache or one SubjectAccessReview."""
        key = "#".join([identity.key, namespace, str(access), name])
        cached = self.cache.get(key)
        if cached is None:
            cached = self._review(identity, namespace, access, name)
            self.cache.put(key, cached)
        verdict: tuple[bool, str] = cached
        return verdict

    def require(self, identity: Identity, namespace: str, accesses: Iterable[Access], name: str = "") -> None:
        """Raise Denied naming the first permission RBAC does not grant (sorted, so the message is stable)."""
        for access in sorted(set(accesses)):
            ok, reason = self.allowed(identity, namespace, access, name)
            if not ok:
                because = f": {reason}" if reason else ""
                target = f" {name}" if name else ""
                raise Denied(f"{identity.user} may not {access}{target} in namespace {namespace}{because}")

    def _review(self, identity: Identity, namespace: str, access: Access, name: str) -> tuple[bool, str]:
        self.reviews += 1
        attributes = {
            "namespace": namespace,
            "verb": access.verb,
            "group": access.group,
            "resource": access.resource,
        }
        if access.subresource:
            attributes["subresource"] = access.subresource
        if name:
            attributes["name"] = name
        spec: dict[str, Any] = {
            "user": identity.user,
            "groups": list(identity.groups),
            "resourceAttributes": attributes,
        }
        if identity.uid:
            spec["uid"] = identity.uid
        if identity.extra:
            spec["extra"] = {key: list(values) for key, values in identity.extra}
        try:
            review = self.kube.create({**ACCESS_REVIEW, "spec": spec})
        except RetryableError as error:
            raise ReviewUnavailable(f"the cluster cannot review the request now: {error}") from None
        except KubeError as error:
            if error.retryable:
                raise ReviewUnavailable(f"the cluster cannot review the request now: {error}") from None
            raise Denied(
                "this server may not review access (its ServiceAccount needs create "
                f"subjectaccessreviews): {error}"
            ) from None
        status = review.get("status") or {}
        allowed = bool(status.get("allowed")) and not status.get("denied")
        return allowed, str(status.get("reason") or status.get("evaluationError") or "")
