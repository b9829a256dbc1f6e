"""Operator start-up and shutdown: kopf settings, the metrics endpoint, the AgentRun HTTP API, the probe."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from naksha import __version__, metrics
from naksha.agent import api, fence
from naksha.errors import ConfigError
from naksha.kube import Kube
from naksha.settings import OperatorSettings, configure_kopf

logger = logging.getLogger(__name__)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = OperatorSettings.from_env()
    configure_kopf(settings)
    memo["config"] = config
    memo["kube"] = Kube()
    port = metrics.serve(config.metrics_port)
    logger.info("naksha %s: metrics on :%d/metrics, kill switch %s", __version__, port, config.kill_switch)
    if not config.api_secret:
        logger.info("AgentRun HTTP API off: set NAKSHA_API_JWT_SECRET or NAKSHA_API_JWT_SECRET_FILE")
        return
    try:
        agent_api = api.AgentApi(memo["kube"], config.api_secret, allowed=fence.allowed_namespaces(config))
    except ValueError as error:
        raise ConfigError(f"NAKSHA_API_JWT_SECRET: {error}") from error
    memo["api_runner"], api_port = await api.serve(agent_api, "0.0.0.0", config.api_port)
    logger.info("AgentRun HTTP API on :%d (POST /agent/run, GET /agent/status/NAME)", api_port)


@kopf.on.cleanup()
async def stop_api(memo: kopf.Memo, **_: Any) -> None:
    runner = memo.get("api_runner")
    if runner is not None:
        await runner.cleanup()


@kopf.on.probe(id="version")
def report_version(**_: Any) -> str:
    return __version__
