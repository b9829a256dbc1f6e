"""Bearer tokens for the AgentRun HTTP API: HS256 JWTs with scopes and an optional namespace list.

A token carries ``sub`` (who), ``exp`` (required: no token lives forever), ``scope`` (space
separated, or a list: ``agent:run`` to start runs, ``agent:read`` to read them) and, to fence a
caller in, ``namespaces`` (a list; absent means every namespace the operator serves).
``naksha agent token`` mints one from the same secret the operator reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from naksha.errors import NakshaError

ALGORITHM = "HS256"
AUDIENCE = "naksha"
SCOPES = ("agent:run", "agent:read")
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash


class Unauthorized(NakshaError):
    """401: no token, or one that is forged, expired or malformed."""


class Forbidden(NakshaError):
    """403: a valid token without the scope or namespace the request needs."""


@dataclass(frozen=True)
class Caller:
    subject: str
    scopes: frozenset[str]
    namespaces: frozenset[str] | None  # None: not fenced

    def require(self, scope: str, namespace: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"the token of {self.subject!r} lacks the scope {scope}")
        if self.namespaces is not None and namespace not in self.namespaces:
            raise Forbidden(f"the token of {self.subject!r} does not cover namespace {namespace!r}")


def check_secret(secret: str) -> str:
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"the API token secret must be at least {MIN_SECRET_BYTES} bytes long")
    return secret


def mint(
    secret: str,
    subject: str,
    *,
    scopes: tuple[str, ...] = SCOPES,
    namespaces: list[str] | None = None,
    ttl_seconds: float = 3600.0,
    now: float | None = None,
) -> str:
    issued = time.time() if now is None else now
    claims: dict[str, Any] = {
        "sub": subject,
        "aud": AUDIENCE,
        "iat": int(issued),
        "exp": int(issued + ttl_seconds),
        "scope": " ".join(scopes),
    }
    if namespaces is not None:
        claims["namespaces"] = list(namespaces)
    return jwt.encode(claims, check_secret(secret), algorithm=ALGORITHM)


def authenticate(secret: str, authorization: str | None) -> Caller:
    """The caller behind an ``Authorization`` header; raises Unauthorized with the reason."""
    if not authorization:
        raise Unauthorized("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    try:
        claims = jwt.decode(
            token.strip(),
            secret,
            algorithms=[ALGORITHM],  # pinned: never the algorithm the token names ("none" included)
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthorized("the token has expired") from error
    except jwt.PyJWTError as error:
        raise Unauthorized(f"invalid token: {error}") from error
    scope = claims.get("scope", "")
    scopes = scope.split() if isinstance(scope, str) else [str(s) for s in scope]
    namespaces = claims.get("namespaces")
    if namespaces is not None and not (
        isinstance(namespaces, list) and all(isinstance(n, str) for n in namespaces)
    ):
        raise Unauthorized("invalid token: the namespaces claim must be a list of names")
    return Caller(
        subject=str(claims["sub"]),
        scopes=frozenset(scopes),
        namespaces=frozenset(namespaces) if namespaces is not None else None,
    )
