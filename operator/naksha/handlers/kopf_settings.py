"""Naksha's choices for kopf, applied at start-up: finalizer name, annotation storage, Events.

The only place kopf is configured; ``naksha.settings`` (the ``NAKSHA_*`` environment) stays free
of kopf so the code below the handlers never loads it.
"""

from __future__ import annotations

import logging
import re

import kopf

from naksha.models.labels import FINALIZER, KOPF_PREFIX


class TimerSuccessNotPosted(logging.Filter):
    """Keeps kopf's "Timer 'x' succeeded." out of Events (still logged): it is a heartbeat, posted
    every tick per object, and buries what users look for. Timer failures are still posted, and the
    reconcilers post an Event for every decision a timer pass makes."""

    PATTERN = re.compile(r"^Timer '[^']*' succeeded\.$")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.INFO and self.PATTERN.match(record.getMessage()):
            record.k8s_skip = True  # kopf's Event poster skips records marked so
        return True


def configure_kopf(settings: kopf.OperatorSettings) -> None:
    """Apply Naksha's choices to kopf: own finalizer, annotation storage, Events for log lines."""
    settings.persistence.finalizer = FINALIZER
    # Annotations keep kopf's bookkeeping out of status, which belongs to the user-facing API.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.posting.enabled = True
    settings.posting.level = logging.INFO
    settings.posting.loggers = True
    objects = logging.getLogger("kopf.objects")
    if not any(isinstance(f, TimerSuccessNotPosted) for f in objects.filters):
        objects.addFilter(TimerSuccessNotPosted())
    # Long server-side watch timeouts with a client margin: fewer reconnects, no silent stalls.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
