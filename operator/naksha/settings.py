"""Operator configuration from the environment (``NAKSHA_*``); standard library only.

kopf's own settings are applied at start-up by ``naksha.handlers.kopf_settings``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from naksha import __version__
from naksha.errors import ConfigError

DEFAULT_IMAGE = f"ghcr.io/naksha-io/naksha:{__version__}"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class OperatorSettings:
    """What an operator deployment can tune, read from ``NAKSHA_*`` variables."""

    namespaces: tuple[str, ...] = ()
    metrics_port: int = 9090
    health_port: int = 8081
    log_level: str = "INFO"
    image: str = DEFAULT_IMAGE
    kill_switch: bool = False
    # ChaosExperiments: the ConfigMap (namespace/name) whose data.killSwitch "on" stops all chaos.
    chaos_control: str = "naksha-system/naksha-chaos"
    # AgentRun guardrails: where runs may act, on which kinds, and how often per target.
    agent_namespaces: tuple[str, ...] = ()
    agent_kinds: tuple[str, ...] = ("Deployment", "Rollout", "EdgeNode", "ConfigMap", "InsightStream")
    agent_rate_limit: int = 5
    agent_rate_window: float = 600.0
    agent_workers: int = 16  # threads that run AgentRun steps; waiting runs hold none
    agent_job_service_account: str = ""  # executor-job pods; needs the RBAC of the WPKs runs use
    # AgentRun HTTP API (docs/agentrun.md): off unless NAKSHA_API_AUTH is kubernetes (TokenReview,
    # SubjectAccessReview, external issuers) or hs256 (one shared secret: the weakest, opt-in).
    api_auth: str = ""
    api_port: int = 8080
    api_secret: str = field(default="", repr=False)
    api_audiences: tuple[str, ...] = ("naksha",)
    api_issuers_file: str = ""
    api_review_ttl: float = 10.0  # seconds a TokenReview or SubjectAccessReview answer is reused
    api_tls_dir: str = ""  # a mounted kubernetes.io/tls Secret: tls.crt, tls.key
    api_client_ca: str = ""  # PEM file: with it, clients must present a certificate it signed

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorSettings:
        """Read the settings; raises ConfigError naming the variable at fault."""
        env = os.environ if env is None else env
        namespaces = tuple(ns.strip() for ns in env.get("NAKSHA_NAMESPACES", "").split(",") if ns.strip())
        log_level = env.get("NAKSHA_LOG_LEVEL", "INFO").upper()
        if log_level not in logging.getLevelNamesMapping():
            raise ConfigError(f"NAKSHA_LOG_LEVEL={log_level!r} is not a log level")
        return cls(
            namespaces=namespaces,
            metrics_port=_port(env, "NAKSHA_METRICS_PORT", 9090),
            health_port=_port(env, "NAKSHA_HEALTH_PORT", 8081),
            log_level=log_level,
            image=env.get("NAKSHA_IMAGE", DEFAULT_IMAGE) or DEFAULT_IMAGE,
            kill_switch=_flag(env, "NAKSHA_KILL_SWITCH"),
            chaos_control=env.get("NAKSHA_CHAOS_CONTROL", "").strip() or cls.chaos_control,
            agent_namespaces=_names(env, "NAKSHA_AGENT_NAMESPACES"),
            agent_kinds=_names(env, "NAKSHA_AGENT_KINDS") or cls.agent_kinds,
            agent_rate_limit=_count(env, "NAKSHA_AGENT_RATE_LIMIT", cls.agent_rate_limit),
            agent_rate_window=float(_count(env, "NAKSHA_AGENT_RATE_WINDOW", int(cls.agent_rate_window))),
            agent_workers=_count(env, "NAKSHA_AGENT_WORKERS", cls.agent_workers),
            agent_job_service_account=env.get("NAKSHA_AGENT_JOB_SERVICE_ACCOUNT", "").strip(),
            api_port=_port(env, "NAKSHA_API_PORT", 8080),
            api_secret=_secret(env, "NAKSHA_API_JWT_SECRET"),
            api_auth=_api_auth(env),
            api_audiences=_names(env, "NAKSHA_API_AUDIENCES") or cls.api_audiences,
            api_issuers_file=env.get("NAKSHA_API_JWT_ISSUERS_FILE", "").strip(),
            api_review_ttl=_seconds(env, "NAKSHA_API_REVIEW_TTL", cls.api_review_ttl),
            api_tls_dir=env.get("NAKSHA_API_TLS_DIR", "").strip(),
            api_client_ca=env.get("NAKSHA_API_CLIENT_CA", "").strip(),
        )


API_AUTH_MODES = ("kubernetes", "hs256", "off")


def shared_api_secret(env: Mapping[str, str] | None = None) -> str:
    """The HS256 secret of ``NAKSHA_API_AUTH=hs256`` (for minting tokens), without the other settings."""
    return _secret(os.environ if env is None else env, "NAKSHA_API_JWT_SECRET")


def _api_auth(env: Mapping[str, str]) -> str:
    mode = env.get("NAKSHA_API_AUTH", "").strip().lower()
    if mode and mode not in API_AUTH_MODES:
        raise ConfigError(f"NAKSHA_API_AUTH={mode!r} is not one of {', '.join(API_AUTH_MODES)}")
    has_secret = bool(env.get("NAKSHA_API_JWT_SECRET", "").strip() or env.get("NAKSHA_API_JWT_SECRET_FILE"))
    if not mode and has_secret:
        raise ConfigError(
            "NAKSHA_API_JWT_SECRET is set but NAKSHA_API_AUTH is not: the shared-secret mode is the "
            "weakest and must be chosen explicitly (NAKSHA_API_AUTH=hs256), or use "
            "NAKSHA_API_AUTH=kubernetes"
        )
    return "" if mode == "off" else mode


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds between 0 and 3600")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ConfigError(f"{name}={raw!r} is not a port number (0-65535)")
    return int(raw)


def _secret(env: Mapping[str, str], name: str) -> str:
    """The value of NAME, or the contents of the file NAME_FILE names (a mounted Secret)."""
    path = env.get(f"{name}_FILE", "").strip()
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as error:
            raise ConfigError(f"{name}_FILE={path!r} cannot be read: {error.strerror}") from error
    return env.get(name, "").strip()


def _names(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name}={raw!r} is not a positive whole number")
    return int(raw)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (true/false)")
