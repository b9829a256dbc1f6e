"""The four federation tokens, minted and verified: bootstrap, node credential, proof, trigger.

Every token is a JWS signed with Ed25519 (``EdDSA``); the verifier pins that algorithm before
looking at anything else, so ``alg: none`` and HS256-signed-with-the-public-key (algorithm
confusion) are refused by name. Each kind has its own ``typ`` claim and audience, so one kind
can never be replayed as another:

- **bootstrap** (hub → operator of a node, one use): ``aud`` = ``naksha-hub/register``, ``sub`` =
  the one node name it may register, one-time ``jti``. Proves "an admin allowed this name".
- **node credential** (hub → node, short-lived): ``aud`` = ``naksha-hub``, ``sub`` = node name,
  ``cnf`` = thumbprint of the node's key. Proves "the hub registered this node".
- **proof** (node → hub, signed with the node's own key, minutes): ``aud`` = ``naksha-hub/<use>``.
  Proves possession of the registered key (registration, rotation).
- **trigger** (hub → node, single use): ``aud`` = ``edge:<namespace>/<node>``, ``wpk``,
  ``params``, ``run`` (the AgentRun that caused it). Proves "the hub asks this node to do this once".

Time checks use the caller's ``now`` (not PyJWT's clock) so decisions are testable; a small
``LEEWAY`` absorbs clock skew between hub and node.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from naksha.domain.federation.refusals import RefusalReason, Refused, unauthorized

PrivateKey = Ed25519PrivateKey
PublicKey = Ed25519PublicKey
ALGORITHM = "EdDSA"
ISSUER = "naksha-hub"
HUB_AUDIENCE = "naksha-hub"
REGISTER_AUDIENCE = "naksha-hub/register"
LEEWAY = 5.0
MAX_TOKEN_BYTES = 8192
MAX_PROOF_LIFETIME = 300.0
MAX_TRIGGER_LIFETIME = 3600.0

BOOTSTRAP = "bootstrap"
NODE = "node"
PROOF = "proof"
TRIGGER = "trigger"


# --- keys -----------------------------------------------------------------------------------------


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_private_pem(data: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the key is not an Ed25519 private key")
    return key


def load_public_pem(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; anything else (RSA, EC, garbage) raises ValueError."""
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, TypeError) as error:
        raise ValueError(f"not a PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not Ed25519")
    return key


def thumbprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, base64url: how a credential names the key it is bound to."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).rstrip(b"=").decode()


def trigger_audience(namespace: str, node: str) -> str:
    return f"edge:{namespace}/{node}"


# --- minting --------------------------------------------------------------------------------------


def _sign(key: Ed25519PrivateKey, claims: Mapping[str, Any]) -> str:
    return jwt.encode(dict(claims), key, algorithm=ALGORITHM, headers={"typ": "JWT"})


def _base(kind: str, issuer: str, audience: str, subject: str, now: float, ttl: float) -> dict[str, Any]:
    return {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "typ": kind,
        "jti": uuid.uuid4().hex,
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now + ttl),
    }


def mint_bootstrap(key: Ed25519PrivateKey, *, namespace: str, node: str, ttl: float, now: float) -> str:
    claims = _base(BOOTSTRAP, ISSUER, REGISTER_AUDIENCE, node, now, ttl)
    claims["ns"] = namespace
    return _sign(key, claims)


def mint_node_credential(
    key: Ed25519PrivateKey, *, namespace: str, node: str, node_key: Ed25519PublicKey, ttl: float, now: float
) -> str:
    claims = _base(NODE, ISSUER, HUB_AUDIENCE, node, now, ttl)
    claims["ns"] = namespace
    claims["cnf"] = {"jkt": thumbprint(node_key)}
    return _sign(key, claims)


def mint_proof(node_key: Ed25519PrivateKey, *, node: str, use: str, now: float, ttl: float = 60.0) -> str:
    return _sign(node_key, _base(PROOF, node, f"{HUB_AUDIENCE}/{use}", node, now, ttl))


def mint_trigger(
    key: Ed25519PrivateKey,
    *,
    namespace: str,
    node: str,
    wpk: str,
    params: Mapping[str, Any],
    run: Mapping[str, str],
    ttl: float,
    now: float,
    jti: str | None = None,
) -> str:
    claims = _base(TRIGGER, ISSUER, trigger_audience(namespace, node), node, now, ttl)
    if jti:
        claims["jti"] = jti
    claims.update(wpk=wpk, params=dict(params), run=dict(run))
    return _sign(key, claims)


# --- verifying ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    """The claims of a token that passed every check."""

    claims: Mapping[str, Any]

    @property
    def subject(self) -> str:
        return str(self.claims["sub"])

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def expires(self) -> float:
        return float(self.claims["exp"])

    @property
    def namespace(self) -> str:
        return str(self.claims.get("ns", ""))


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer ...`` header; 401 MissingToken without one."""
    if not authorization:
        raise unauthorized(RefusalReason.MISSING_TOKEN, "no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized(RefusalReason.MISSING_TOKEN, "the Authorization header is not 'Bearer <token>'")
    return token.strip()


def verify(
    token: str,
    key: Ed25519PublicKey,
    *,
    kind: str,
    audience: str,
    now: float,
    issuer: str | None = ISSUER,
    max_lifetime: float | None = None,
) -> Verified:
    """The claims of ``token`` if it is a valid ``kind`` token for ``audience`` at ``now``; else Refused."""
    if not isinstance(token, str) or not token:
        raise unauthorized(RefusalReason.MISSING_TOKEN, "no token")
    if len(token) > MAX_TOKEN_BYTES:
        raise unauthorized(RefusalReason.MALFORMED_TOKEN, f"token longer than {MAX_TOKEN_BYTES} bytes")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.exceptions.DecodeError as error:
        raise unauthorized(RefusalReason.MALFORMED_TOKEN, f"not a JWS: {error}") from None
    # Pinned before verifying: the header must not choose how it is checked.
    if header.get("alg") != ALGORITHM:
        raise unauthorized(
            RefusalReason.ALGORITHM_NOT_ALLOWED, f"algorithm {header.get('alg')!r} refused; only EdDSA"
        )
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.exceptions.InvalidSignatureError:
        raise unauthorized(RefusalReason.BAD_SIGNATURE, "the signature does not verify") from None
    except jwt.exceptions.PyJWTError as error:
        raise unauthorized(RefusalReason.MALFORMED_TOKEN, f"cannot decode: {error}") from None
    return Verified(_check_claims(claims, kind, audience, issuer, now, max_lifetime))


def _check_claims(
    claims: Any, kind: str, audience: str, issuer: str | None, now: float, max_lifetime: float | None
) -> Mapping[str, Any]:
    if not isinstance(claims, dict):
        raise unauthorized(RefusalReason.MALFORMED_TOKEN, "the payload is not a JSON object")
    for name, kind_of in (("sub", str), ("jti", str), ("exp", (int, float)), ("iat", (int, float))):
        value = claims.get(name)
        if not isinstance(value, kind_of) or isinstance(value, bool) or value == "":
            raise unauthorized(RefusalReason.MISSING_CLAIM, f"claim {name!r} missing or of the wrong type")
    if claims.get("typ") != kind:
        raise unauthorized(
            RefusalReason.WRONG_TOKEN_TYPE, f"a {claims.get('typ')!r} token where {kind!r} is due"
        )
    if issuer is not None and claims.get("iss") != issuer:
        raise unauthorized(RefusalReason.WRONG_ISSUER, f"issuer {claims.get('iss')!r} is not {issuer!r}")
    token_audience = claims.get("aud")
    audiences = token_audience if isinstance(token_audience, list) else [token_audience]
    if audience not in audiences:
        raise unauthorized(RefusalReason.WRONG_AUDIENCE, f"audience {token_audience!r} is not {audience!r}")
    expires = float(claims["exp"])
    not_before = claims.get("nbf", claims["iat"])
    if not isinstance(not_before, int | float) or isinstance(not_before, bool):
        raise unauthorized(RefusalReason.MISSING_CLAIM, "claim 'nbf' of the wrong type")
    if now >= expires + LEEWAY:
        raise unauthorized(RefusalReason.TOKEN_EXPIRED, f"expired {now - expires:.0f}s ago")
    if now + LEEWAY < float(not_before):
        raise unauthorized(RefusalReason.TOKEN_NOT_YET_VALID, f"valid only in {float(not_before) - now:.0f}s")
    if max_lifetime is not None and expires - float(claims["iat"]) > max_lifetime:
        raise unauthorized(RefusalReason.LIFETIME_TOO_LONG, f"lifetime over {max_lifetime:.0f}s")
    return claims


def require_node(verified: Verified, node: str) -> None:
    """403 NodeMismatch when a token names another node than the request."""
    if verified.subject != node:
        raise Refused(403, RefusalReason.NODE_MISMATCH, f"token for node {verified.subject!r}, not {node!r}")
