"""kopf posts the log lines users want as Events, but not the per-tick success of a timer."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import pytest
from kopf._core.actions.loggers import ObjectLogger
from kopf._core.engines.posting import K8sPoster

from naksha.handlers.kopf_settings import configure_kopf


class Posted(K8sPoster):
    """kopf's own Event poster with its filter, recording what it would post instead of posting."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((record.levelname, record.getMessage()))


@pytest.fixture
def posted() -> Any:
    poster = Posted()
    logger = logging.getLogger("kopf.objects")
    logger.addHandler(poster)
    yield poster
    logger.removeHandler(poster)


class Logged(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_timer_success_is_logged_but_not_posted_while_failures_and_decisions_are(posted):
    settings = kopf.OperatorSettings()
    configure_kopf(settings)
    body: Any = {"apiVersion": "naksha.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r", "uid": "u"}}
    objects = ObjectLogger(body=body, settings=settings)
    logged = Logged()
    logger = logging.getLogger("kopf.objects")
    logger.addHandler(logged)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        objects.info("Timer 'advance' succeeded.")
        objects.warning("Timer 'advance' failed temporarily: 401 Unauthorized")
        objects.info("Handler 'create' succeeded.")
        objects.info("Timer 'advance' succeeded.")
    finally:
        logger.removeHandler(logged)
        logger.setLevel(level)
    assert posted.messages == [
        ("WARNING", "Timer 'advance' failed temporarily: 401 Unauthorized"),
        ("INFO", "Handler 'create' succeeded."),
    ]
    assert logged.messages.count("Timer 'advance' succeeded.") == 2
