"""Authentication of the local control plane: who a request comes from.

Two credential kinds, tried in the real API server's order: a client certificate signed by the
control plane's CA (user = common name, groups = organizations), then a bearer token, which must
be a ServiceAccount token this control plane issued (an RS256 JWT with the claims of a real
bound token: ``iss``, ``sub``, ``aud``, ``exp``, ``nbf``, ``iat``, ``jti`` and ``kubernetes.io``).
A token is valid only while its ServiceAccount (and the pod or Secret it is bound to) still
exists with the same uid, as on a real cluster. A request with neither is answered 401.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from naksha.local.apiserver.store import Store

ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
ALGORITHM = "RS256"
_VERIFIED_CACHE_LIMIT = 4096


@dataclass(frozen=True)
class UserInfo:
    """An authenticated identity, as ``TokenReview`` and ``SubjectAccessReview`` describe it."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_master(self) -> bool:
        return MASTERS in self.groups

    def as_review(self) -> dict[str, Any]:
        review: dict[str, Any] = {"username": self.username, "groups": list(self.groups)}
        if self.uid:
            review["uid"] = self.uid
        if self.extra:
            review["extra"] = {k: list(v) for k, v in self.extra.items()}
        return review


def with_authenticated(groups: Iterable[str]) -> tuple[str, ...]:
    """Groups plus ``system:authenticated``, which every authenticated user gets."""
    result = list(dict.fromkeys(groups))
    if AUTHENTICATED not in result:
        result.append(AUTHENTICATED)
    return tuple(result)


def service_account_user(namespace: str, name: str, uid: str = "", **extra: str) -> UserInfo:
    return UserInfo(
        username=f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
        uid=uid,
        groups=("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
        extra={k: (v,) for k, v in extra.items() if v},
    )


def parse_service_account(username: str) -> tuple[str, str] | None:
    """``(namespace, name)`` of a ``system:serviceaccount:<ns>:<name>`` user name."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = username[len(SERVICE_ACCOUNT_PREFIX) :].split(":")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


class TokenError(Exception):
    """A bearer token that does not authenticate; the message says why (for TokenReview.status.error)."""


class ServiceAccountTokens:
    """Issues and verifies ServiceAccount tokens with one RSA key per control plane."""

    def __init__(self, store: Store, issuer: str = ISSUER) -> None:
        self.store = store
        self.issuer = issuer
        self.api_audiences = (issuer,)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public = self._key.public_key()
        der = self._public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
        self._verified: dict[str, dict[str, Any]] = {}

    def issue(
        self,
        service_account: dict[str, Any],
        *,
        audiences: Iterable[str] = (),
        seconds: int = 3600,
        bound: dict[str, Any] | None = None,
    ) -> tuple[str, int]:
        """A signed token for ``service_account``; returns it with its expiry (epoch seconds).

        ``bound`` is the Pod or Secret the token is bound to: deleting it invalidates the token.
        """
        meta = service_account["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        now = int(time.time())
        private: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": meta["uid"]},
        }
        if bound is not None:
            kind = str(bound["kind"]).lower()
            private[kind] = {"name": bound["metadata"]["name"], "uid": bound["metadata"]["uid"]}
        claims = {
            "iss": self.issuer,
            "sub": f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
            "aud": list(audiences) or list(self.api_audiences),
            "iat": now,
            "nbf": now,
            "exp": now + seconds,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.key_id})
        return token, now + seconds

    def authenticate(self, token: str, audiences: Iterable[str] | None = None) -> tuple[UserInfo, list[str]]:
        """The identity of ``token`` and the audiences it was accepted for; ``TokenError`` if none.

        ``audiences`` defaults to the API server's own (the issuer), as for API requests.
        """
        wanted = list(audiences or self.api_audiences)
        claims = self._verified.get(token)
        if claims is None or claims["exp"] <= time.time():
            claims = self._verify(token)
        accepted = [a for a in wanted if a in claims["aud"]]
        if not accepted:
            raise TokenError("token audiences " + str(claims["aud"]) + " is invalid for the target audiences")
        private = claims["kubernetes.io"]
        namespace = private["namespace"]
        account = private["serviceaccount"]
        self._check_exists("serviceaccounts", namespace, account["name"], account["uid"])
        extra: dict[str, str] = {"authentication.kubernetes.io/credential-id": f"JTI={claims['jti']}"}
        for kind, plural in (("pod", "pods"), ("secret", "secrets")):
            if kind in private:
                self._check_exists(plural, namespace, private[kind]["name"], private[kind]["uid"])
        if "pod" in private:
            extra["authentication.kubernetes.io/pod-name"] = private["pod"]["name"]
            extra["authentication.kubernetes.io/pod-uid"] = private["pod"]["uid"]
        return service_account_user(namespace, account["name"], account["uid"], **extra), accepted

    def public_jwks(self) -> dict[str, Any]:
        """The key set a relying party verifies these tokens with (``/openid/v1/jwks``)."""
        numbers = self._public.public_numbers()

        def b64(value: int) -> str:
            raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")

        key = {"use": "sig", "kty": "RSA", "kid": self.key_id, "alg": ALGORITHM}
        return {"keys": [{**key, "n": b64(numbers.n), "e": b64(numbers.e)}]}

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"verify_aud": False, "require": ["exp", "iat", "nbf", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenError("token has expired") from error
        except jwt.PyJWTError as error:
            raise TokenError(f"invalid bearer token: {error}") from error
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict) or not isinstance(private.get("serviceaccount"), dict):
            raise TokenError("invalid bearer token: not a service account token")
        if isinstance(claims["aud"], str):
            claims["aud"] = [claims["aud"]]
        if len(self._verified) >= _VERIFIED_CACHE_LIMIT:
            self._verified.clear()  # bounded: re-verifying is cheap, growing without end is not
        self._verified[token] = claims
        return claims

    def _check_exists(self, plural: str, namespace: str, name: str, uid: str) -> None:
        obj = self.store.get(f"/v1/{plural}", namespace, name)
        kind = plural[:-1]
        if obj is None:
            raise TokenError(f'{kind} "{name}" not found: the token has been invalidated')
        if obj["metadata"].get("uid") != uid:
            raise TokenError(f"{kind} {namespace}/{name} uid does not match the token: it was recreated")


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
