"""Core/v1 Events about Naksha's objects, built and posted in one place so every component reports alike.

Events carry what ``kubectl get events`` and ``kubectl describe`` show: ``firstTimestamp``,
``lastTimestamp``, ``eventTime``, ``count``, the reporting component and instance. Repeats are
aggregated the way Kubernetes' own components do it (client-go's event correlator): an Event with
the same object, type, reason, message and component posted again within ``WINDOW_SECONDS`` bumps
``count`` and ``lastTimestamp`` on the Event already there instead of adding another one.
The memory of recent Events is per process (bounded); a restarted process starts a new Event.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from naksha.kube.client import Kube, KubeError, NotFound
from naksha.models import timestamps
from naksha.models.resources import EVENTS

logger = logging.getLogger(__name__)
MAX_MESSAGE = 1024
WINDOW_SECONDS = 600.0
REMEMBERED = 4096
# Which process reported: the pod's name in a cluster, the host otherwise.
INSTANCE = (os.environ.get("POD_NAME") or socket.gethostname())[:128]


def event_about(
    involved: dict[str, Any],
    *,
    reason: str,
    message: str,
    kind: str = "Normal",
    component: str,
    name: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """An Event about ``involved`` (apiVersion, kind, name, namespace[, uid]); a fixed name posts it once."""
    moment = time.time() if now is None else now
    namespace = involved["namespace"]
    metadata: dict[str, Any] = {"namespace": namespace}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = f"{involved['name']}."
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata,
        "involvedObject": {k: v for k, v in involved.items() if v is not None},
        "type": kind,
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "source": {"component": component},
        # eventTime on a core/v1 Event requires the reporting fields and an action.
        "action": reason,
        "reportingComponent": component,
        "reportingInstance": INSTANCE,
        "firstTimestamp": timestamps.to_text(moment),
        "lastTimestamp": timestamps.to_text(moment),
        "eventTime": timestamps.to_micro_text(moment),
        "count": 1,
    }


@dataclass
class _Seen:
    name: str
    count: int
    last: float


class EventAggregator:
    """Posts Events, counting a repeat on the Event it repeats (see the module's docstring)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._seen: collections.OrderedDict[tuple[Any, ...], _Seen] = collections.OrderedDict()
        # One post at a time: two threads repeating one Event must not both write count n+1.
        self._lock = threading.Lock()

    def post(self, kube: Kube, event: dict[str, Any]) -> dict[str, Any]:
        """Create ``event`` or count it on the same Event posted within the window; KubeError passes."""
        involved = event["involvedObject"]
        key = (
            event["metadata"]["namespace"],
            involved.get("kind"),
            involved.get("name"),
            involved.get("uid"),
            event.get("type"),
            event.get("reason"),
            event.get("message"),
            (event.get("source") or {}).get("component"),
        )
        with self._lock:
            now = self.clock()
            seen = self._seen.get(key)
            if seen is not None and now - seen.last < WINDOW_SECONDS:
                patch = {"count": seen.count + 1, "lastTimestamp": timestamps.to_text(now)}
                try:
                    updated = kube.merge_patch(EVENTS, key[0], seen.name, patch)
                except NotFound:
                    pass  # expired (the API server keeps Events an hour by default): start anew
                else:
                    seen.count, seen.last = seen.count + 1, now
                    self._seen.move_to_end(key)
                    return updated
            body = {
                **event,
                "count": 1,
                "firstTimestamp": timestamps.to_text(now),
                "lastTimestamp": timestamps.to_text(now),
            }
            body["eventTime"] = timestamps.to_micro_text(now)
            created = kube.create(body)
            self._seen[key] = _Seen(str(created["metadata"]["name"]), 1, now)
            self._seen.move_to_end(key)
            while len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)
            return created


AGGREGATOR = EventAggregator()


def post_event(kube: Kube, event: dict[str, Any]) -> dict[str, Any] | None:
    """Post through the process's aggregator; a failure is logged, never raised (Events are auxiliary)."""
    try:
        return AGGREGATOR.post(kube, event)
    except KubeError as error:
        involved = event["involvedObject"]
        logger.warning(
            "posting Event %s about %s %s/%s failed: %s",
            event.get("reason"),
            involved.get("kind"),
            event["metadata"]["namespace"],
            involved.get("name"),
            error,
        )
        return None
