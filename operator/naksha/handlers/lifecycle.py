"""Operator start-up and shutdown: login, kopf settings, metrics, the AgentRun HTTP API, the probe."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from naksha import __version__, metrics
from naksha.access import issuers, tls
from naksha.access.reviews import Authenticator, Authorizer
from naksha.controllers.agentrun import api, fence
from naksha.controllers.agentrun.api_auth import Gate, KubernetesGate, SharedSecretGate
from naksha.errors import ConfigError
from naksha.handlers.kopf_settings import configure_kopf
from naksha.kube import Kube
from naksha.kube.auth import Credentials
from naksha.settings import OperatorSettings

logger = logging.getLogger(__name__)


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    """kopf's credentials from Naksha's own loader, so its watches and Naksha's requests agree.

    kopf calls this again after a 401, which re-reads the token file or runs the exec plugin anew.
    """
    connection = Credentials().connection()
    return kopf.ConnectionInfo(
        server=connection.server,
        ca_path=connection.ca_path,
        insecure=connection.insecure,
        scheme=connection.scheme,
        token=connection.token,
        certificate_path=connection.certificate_path,
        private_key_path=connection.private_key_path,
        default_namespace=connection.default_namespace,
        expiration=connection.expiration,
    )


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = OperatorSettings.from_env()
    configure_kopf(settings)
    memo["config"] = config
    memo["kube"] = Kube()
    port = metrics.serve(config.metrics_port)
    logger.info("naksha %s: metrics on :%d/metrics, kill switch %s", __version__, port, config.kill_switch)
    if not config.api_auth:
        logger.info("AgentRun HTTP API off: set NAKSHA_API_AUTH=kubernetes (or hs256 with a shared secret)")
        return
    agent_api = api.AgentApi(
        memo["kube"], _gate(config, memo["kube"]), allowed=fence.allowed_namespaces(config)
    )
    try:
        context = (
            tls.server_context(config.api_tls_dir, client_ca=config.api_client_ca)
            if config.api_tls_dir
            else None
        )
    except tls.TlsConfigError as error:
        raise ConfigError(f"NAKSHA_API_TLS_DIR: {error}") from error
    memo["api_runner"], api_port = await api.serve(agent_api, "0.0.0.0", config.api_port, tls=context)
    logger.info(
        "AgentRun HTTP API on :%d (%s, %s; POST /agent/run, GET /agent/status/NAME)",
        api_port,
        "https" if context else "http",
        config.api_auth,
    )


def _gate(config: OperatorSettings, kube: Kube) -> Gate:
    if config.api_auth == "hs256":
        try:
            return SharedSecretGate(config.api_secret)
        except ValueError as error:
            raise ConfigError(f"NAKSHA_API_JWT_SECRET: {error}") from error
        finally:
            logger.warning("AgentRun HTTP API uses one shared HS256 secret: the weakest mode")
    try:
        external = issuers.load(config.api_issuers_file, kube) if config.api_issuers_file else None
    except issuers.IssuerConfigError as error:
        raise ConfigError(f"NAKSHA_API_JWT_ISSUERS_FILE: {error}") from error
    return KubernetesGate(
        Authenticator(kube, audiences=config.api_audiences, issuers=external, ttl=config.api_review_ttl),
        Authorizer(kube, ttl=config.api_review_ttl),
    )


@kopf.on.cleanup()
async def stop_api(memo: kopf.Memo, **_: Any) -> None:
    runner = memo.get("api_runner")
    if runner is not None:
        await runner.cleanup()


@kopf.on.probe(id="version")
def report_version(**_: Any) -> str:
    return __version__
