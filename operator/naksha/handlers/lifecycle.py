"""Operator start-up: kopf settings, the metrics endpoint, and the liveness probe's payload."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from naksha import __version__, metrics
from naksha.kube import Kube
from naksha.settings import OperatorSettings, configure_kopf

logger = logging.getLogger(__name__)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = OperatorSettings.from_env()
    configure_kopf(settings)
    memo["config"] = config
    memo["kube"] = Kube()
    port = metrics.serve(config.metrics_port)
    logger.info("naksha %s: metrics on :%d/metrics, kill switch %s", __version__, port, config.kill_switch)


@kopf.on.probe(id="version")
def report_version(**_: Any) -> str:
    return __version__
