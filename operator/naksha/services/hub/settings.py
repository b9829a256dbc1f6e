"""The hub's configuration: command-line flags with ``NAKSHA_HUB_*`` environment defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from naksha.domain.federation.requests import NODE_LABEL, TRIGGER_LABEL

KEY_SECRET = "naksha-hub-signing-key"
LEDGER_SECRET = "naksha-hub-ledger"
__all__ = ["KEY_SECRET", "LEDGER_SECRET", "NODE_LABEL", "TRIGGER_LABEL", "HubSettings"]


@dataclass(frozen=True)
class HubSettings:
    namespace: str
    host: str = "0.0.0.0"
    port: int = 8443
    tls_dir: str = ""
    self_signed_dir: str = ""
    approval: Literal["auto", "manual"] = "auto"
    credential_ttl: float = 3600.0
    max_body_bytes: int = 64 * 1024
    body_timeout: float = 5.0
    header_timeout: float = 20.0  # request line + headers, from connecting or the last response
    handshake_timeout: float = 10.0  # the TLS handshake
    rate_per_node: float = 5.0
    burst_per_node: float = 20.0
    rate_per_address: float = 20.0
    burst_per_address: float = 100.0
    max_wait: float = 30.0
    redeliver_after: float = 30.0
    lease_tick: float = 0.25
    ledger_capacity: int = 15_000

    @classmethod
    def from_env(cls, **overrides: object) -> HubSettings:
        env = os.environ
        values: dict[str, object] = {
            "namespace": env.get("NAKSHA_HUB_NAMESPACE") or env.get("POD_NAMESPACE") or "default",
            "port": int(env.get("NAKSHA_HUB_PORT", "8443")),
            "tls_dir": env.get("NAKSHA_HUB_TLS_DIR", ""),
            "approval": env.get("NAKSHA_HUB_APPROVAL", "auto"),
            "body_timeout": float(env.get("NAKSHA_HUB_BODY_TIMEOUT", "5")),
            "header_timeout": float(env.get("NAKSHA_HUB_HEADER_TIMEOUT", "20")),
            "handshake_timeout": float(env.get("NAKSHA_HUB_HANDSHAKE_TIMEOUT", "10")),
            "redeliver_after": float(env.get("NAKSHA_HUB_REDELIVER_AFTER", "30")),
            "rate_per_node": float(env.get("NAKSHA_HUB_RATE_PER_NODE", "5")),
            "rate_per_address": float(env.get("NAKSHA_HUB_RATE_PER_ADDRESS", "20")),
            "burst_per_address": float(env.get("NAKSHA_HUB_BURST_PER_ADDRESS", "100")),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        if values["approval"] not in ("auto", "manual"):
            raise ValueError(f"approval must be auto or manual, not {values['approval']!r}")
        return cls(**values)  # type: ignore[arg-type]
