"""External callers: JWTs from configured issuers, verified with the issuer's public keys.

A caller outside the cluster (a CI system, an incident tool) has no ServiceAccount. Its tokens are
JWTs signed by an issuer Naksha is told about, in a YAML/JSON document
(``NAKSHA_API_JWT_ISSUERS_FILE``)::

    issuers:
      - issuer: https://ci.example.com          # must equal the token's iss
        audiences: [naksha]                     # the token's aud must name one
        algorithm: RS256                        # pinned: RS256/384/512, PS256/384/512, ES256/384, EdDSA
        jwks: {file: /etc/naksha/ci-jwks.json}  # or {url: https://...} or {secret: {namespace, name, key}}
        usernameClaim: sub                      # default sub
        usernamePrefix: "ci:"                   # default "<issuer>#"
        groupsClaim: groups                     # optional
        groupsPrefix: "ci:"                     # default ""

The token's header ``alg`` must be the issuer's pinned algorithm — so ``none`` and HS256 (which
would let anyone holding the public key forge tokens, "key confusion") never verify — and the
key is chosen by ``kid`` from the issuer's JWKS, reloaded when an unknown ``kid`` appears (at most
every ``REFRESH_SECONDS``). ``iss``, ``aud`` and ``exp`` are required; ``nbf`` is checked when
present. The identity is the prefixed username and groups; names under ``system:`` are refused,
so an issuer can never speak for the cluster's own users or groups (``system:masters``).
"""

from __future__ import annotations

import base64
import json
import pathlib
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import yaml

from naksha.access.identity import Identity, ReviewUnavailable, Unauthenticated
from naksha.errors import NakshaError, RetryableError
from naksha.kube import KubeError
from naksha.models.resources import SECRETS

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
REFRESH_SECONDS = 30.0
FETCH_TIMEOUT_SECONDS = 5.0


class IssuerConfigError(NakshaError, ValueError):
    """The issuers document is wrong; the message names the issuer and the field."""


@dataclass(frozen=True)
class Issuer:
    issuer: str
    audiences: tuple[str, ...]
    algorithm: str
    jwks: Callable[[], Mapping[str, Any]]  # the issuer's JWKS document, read again on demand
    username_claim: str = "sub"
    username_prefix: str = ""
    groups_claim: str = ""
    groups_prefix: str = ""
    leeway: float = 0.0


class KeySet:
    """An issuer's public keys by ``kid``, reloaded when a token names one not seen yet."""

    def __init__(self, issuer: Issuer, clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer
        self.clock = clock
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def key(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            if kid not in self._keys and self.clock() - self._loaded_at >= REFRESH_SECONDS:
                self._load()
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            try:
                return self._keys[kid]
            except KeyError:
                raise Unauthenticated(f"no key {kid!r} in the JWKS of issuer {self.issuer.issuer}") from None

    def _load(self) -> None:
        self._loaded_at = self.clock()
        try:
            document = dict(self.issuer.jwks())
        except (OSError, ValueError, KubeError, RetryableError) as error:
            # This side cannot check the token now (the JWKS file, URL or Secret cannot be read):
            # the caller may retry, so 503 rather than 401.
            raise ReviewUnavailable(
                f"the keys of issuer {self.issuer.issuer} cannot be read: {error}"
            ) from None
        usable: dict[str | None, jwt.PyJWK] = {}
        for raw in document.get("keys") or []:
            if not isinstance(raw, dict) or raw.get("kty") == "oct":
                continue  # a symmetric key has no place in a public key set
            if (
                raw.get("use", "sig") != "sig"
                or raw.get("alg", self.issuer.algorithm) != self.issuer.algorithm
            ):
                continue  # a key for encryption, or for another algorithm than the pinned one
            try:
                key = jwt.PyJWK(raw, algorithm=self.issuer.algorithm)
            except jwt.PyJWTError:
                continue  # not a key of the pinned algorithm's type (an RSA key for ES256...)
            usable[raw.get("kid")] = key
        self._keys = usable


class Issuers:
    """The configured issuers, by ``iss``."""

    def __init__(self, issuers: list[Issuer], clock: Callable[[], float] = time.monotonic) -> None:
        self.by_name = {issuer.issuer: KeySet(issuer, clock) for issuer in issuers}

    def claims(self, token: str) -> bool:
        """Whether the token says it comes from one of these issuers (nothing is trusted yet)."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return isinstance(unverified, dict) and unverified.get("iss") in self.by_name

    def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"invalid token: {error}") from None
        keys = self.by_name.get(str(unverified.get("iss")))
        if keys is None:
            raise Unauthenticated(f"unknown issuer {unverified.get('iss')!r}")
        issuer = keys.issuer
        if header.get("alg") != issuer.algorithm:
            raise Unauthenticated(
                f"the token is signed with {header.get('alg')!r}; issuer {issuer.issuer} is pinned to "
                f"{issuer.algorithm}"
            )
        key = keys.key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[issuer.algorithm],
                audience=list(issuer.audiences),
                issuer=issuer.issuer,
                leeway=issuer.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(f"the token's audience is not {' or '.join(issuer.audiences)}") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet (nbf)") from None
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"invalid token: {error}") from None
        return _identity(issuer, claims)


def _identity(issuer: Issuer, claims: Mapping[str, Any]) -> Identity:
    name = claims.get(issuer.username_claim)
    if not isinstance(name, str) or not name:
        raise Unauthenticated(f"the token has no {issuer.username_claim!r} claim to name its user")
    user = issuer.username_prefix + name
    raw_groups = claims.get(issuer.groups_claim, []) if issuer.groups_claim else []
    if isinstance(raw_groups, str):
        raw_groups = [raw_groups]
    if not isinstance(raw_groups, list) or not all(isinstance(g, str) for g in raw_groups):
        raise Unauthenticated(f"the {issuer.groups_claim!r} claim must be a list of names")
    groups = tuple(issuer.groups_prefix + group for group in raw_groups)
    for named in (user, *groups):
        if named.startswith("system:"):
            raise Unauthenticated(
                f"an external issuer may not name {named!r}: system: names are the cluster's"
            )
    return Identity(user=user, groups=groups, via=issuer.issuer)


# --- the issuers document ------------------------------------------------------------------------


def load(path: str, kube: Any = None, clock: Callable[[], float] = time.monotonic) -> Issuers:
    """Read the issuers document; raises IssuerConfigError naming what is wrong."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise IssuerConfigError(f"{path}: {error}") from None
    entries = (document or {}).get("issuers") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise IssuerConfigError(f"{path}: expected a non-empty list under 'issuers'")
    return Issuers([parse_issuer(entry, kube) for entry in entries], clock)


def parse_issuer(entry: Any, kube: Any = None) -> Issuer:
    if not isinstance(entry, dict) or not isinstance(entry.get("issuer"), str) or not entry["issuer"]:
        raise IssuerConfigError(f"every issuer needs an 'issuer' (its iss): {entry!r}")
    name = entry["issuer"]
    algorithm = entry.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise IssuerConfigError(
            f"issuer {name}: algorithm {algorithm!r} is not an asymmetric one ({', '.join(ALGORITHMS)}); "
            "HS256 with a shared secret is only the API's explicit NAKSHA_API_AUTH=hs256 mode"
        )
    audiences = entry.get("audiences")
    if not isinstance(audiences, list) or not audiences or not all(isinstance(a, str) for a in audiences):
        raise IssuerConfigError(f"issuer {name}: 'audiences' must be a non-empty list")
    return Issuer(
        issuer=name,
        audiences=tuple(audiences),
        algorithm=algorithm,
        jwks=_jwks_source(name, entry.get("jwks"), kube),
        username_claim=str(entry.get("usernameClaim") or "sub"),
        username_prefix=str(entry.get("usernamePrefix", f"{name}#")),
        groups_claim=str(entry.get("groupsClaim") or ""),
        groups_prefix=str(entry.get("groupsPrefix") or ""),
        leeway=float(entry.get("leewaySeconds") or 0),
    )


def _jwks_source(name: str, source: Any, kube: Any) -> Callable[[], Mapping[str, Any]]:
    if not isinstance(source, dict) or len(source) != 1:
        raise IssuerConfigError(f"issuer {name}: 'jwks' needs exactly one of file, url, secret")
    if "file" in source:
        path = str(source["file"])
        return lambda: _parse(pathlib.Path(path).read_text(encoding="utf-8"))
    if "url" in source:
        url = str(source["url"])
        if not url.startswith(("https://", "http://127.", "http://localhost")):
            raise IssuerConfigError(
                f"issuer {name}: the JWKS URL must be https (plain http only on loopback)"
            )
        return lambda: _parse(_fetch(url))
    if "secret" in source:
        ref = source["secret"]
        if not isinstance(ref, dict) or not all(
            isinstance(ref.get(k), str) for k in ("namespace", "name", "key")
        ):
            raise IssuerConfigError(f"issuer {name}: jwks.secret needs namespace, name and key")
        if kube is None:
            raise IssuerConfigError(f"issuer {name}: a Secret JWKS needs the Kubernetes API")
        return lambda: _parse(_secret_value(kube, ref["namespace"], ref["name"], ref["key"]))
    raise IssuerConfigError(f"issuer {name}: 'jwks' needs exactly one of file, url, secret")


def _parse(text: str) -> Mapping[str, Any]:
    parsed = json.loads(text)
    if not isinstance(parsed, dict):
        raise ValueError("a JWKS document is a JSON object with 'keys'")
    return parsed


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
        return str(response.read().decode())


def _secret_value(kube: Any, namespace: str, name: str, key: str) -> str:
    secret = kube.get(SECRETS, namespace, name)
    data = (secret.get("data") or {}).get(key)
    if data is None:
        raise ValueError(f"Secret {namespace}/{name} has no key {key!r}")
    return base64.b64decode(data).decode()
