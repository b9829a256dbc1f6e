"""What an edge node checks before acting on a trigger, in order, each failure a refusal.

Signature with the pinned hub key and algorithm, kind, issuer, audience (this node, in this
namespace), expiry and lifetime, not seen before (the node's ledger), then the allow-list. Only
a trigger that passes all of it yields an ``Execution``; recording its ``jti`` as used is the
caller's next step, made durable before anything runs (at most once across a kill).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from naksha.domain.federation import allowlist, tokens
from naksha.domain.federation.ledger import ReplayLedger
from naksha.domain.federation.refusals import RefusalReason, Refused


@dataclass(frozen=True)
class AcceptedTrigger:
    jti: str
    expires: float
    wpk: str
    run: Mapping[str, Any]
    execution: allowlist.Execution


def accept(
    token: str,
    hub_key: Ed25519PublicKey,
    *,
    namespace: str,
    node: str,
    ledger: ReplayLedger,
    config: allowlist.AgentConfig,
    now: float,
) -> AcceptedTrigger:
    verified = tokens.verify(
        token,
        hub_key,
        kind=tokens.TRIGGER,
        audience=tokens.trigger_audience(namespace, node),
        now=now,
        max_lifetime=tokens.MAX_TRIGGER_LIFETIME,
    )
    tokens.require_node(verified, node)
    ledger.check(verified.jti, what="trigger")
    claims = verified.claims
    wpk = claims.get("wpk")
    run = claims.get("run")
    if not isinstance(wpk, str) or not isinstance(run, dict):
        raise Refused(401, RefusalReason.MISSING_CLAIM, "a trigger needs 'wpk' and 'run' claims")
    execution = allowlist.plan(config, wpk, claims.get("params", {}))
    return AcceptedTrigger(verified.jti, verified.expires, wpk, run, execution)
