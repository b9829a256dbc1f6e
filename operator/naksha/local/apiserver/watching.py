"""Watch streams: initial state or resume from a resourceVersion, filtering, bookmarks, expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from naksha.local.apiserver.encoding import encode_json
from naksha.local.apiserver.selectors import FieldSelector, LabelSelector
from naksha.local.apiserver.store import Store, WatchEvent

Send = Callable[[dict[str, Any]], Awaitable[None]]
BOOKMARK_SECONDS = 5.0


class WatchFilter:
    def __init__(self, namespace: str, labels: LabelSelector, fields: FieldSelector) -> None:
        self.namespace = namespace
        self.labels = labels
        self.fields = fields

    def matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.namespace and (meta.get("namespace") or "") != self.namespace:
            return False
        return self.labels.matches(meta.get("labels")) and self.fields.matches(obj)

    def translate(self, event: WatchEvent) -> str | None:
        """The event type this watcher sees (objects entering or leaving the selection), or None."""
        new_ok = self.matches(event.obj)
        old_ok = self.matches(event.old)
        if event.type == "DELETED":
            return "DELETED" if old_ok or new_ok else None
        if event.type == "ADDED":
            return "ADDED" if new_ok else None
        if new_ok and old_ok:
            return "MODIFIED"
        if new_ok:
            return "ADDED"
        if old_ok:
            return "DELETED"
        return None


def expired_event(revision: int, oldest: int) -> dict[str, Any]:
    return {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f"too old resource version: {revision} ({oldest - 1})",
            "reason": "Expired",
            "code": 410,
        },
    }


async def stream(
    store: Store,
    resource_key: str,
    kind: str,
    api_version: str,
    watch_filter: WatchFilter,
    send: Send,
    *,
    since: int | None,
    timeout: float | None,
    bookmarks: bool,
    bookmark_seconds: float = BOOKMARK_SECONDS,
    render: Callable[[dict[str, Any]], dict[str, Any]] = lambda obj: obj,
) -> None:
    """Feed events to ``send`` until the timeout passes or the client goes away."""
    subscriber = store.subscribe(resource_key, watch_filter.namespace or None)
    try:
        last = store.revision
        if since is None:
            for obj in list(store.items(resource_key, watch_filter.namespace or None)):
                if watch_filter.matches(obj):
                    await send({"type": "ADDED", "object": render(obj)})
        else:
            replay = store.history_since(resource_key, since)
            if replay is None:
                await send(expired_event(since, store.oldest_revision))
                return
            for event in replay:
                seen = watch_filter.translate(event)
                if seen:
                    await send({"type": seen, "object": render(event.obj)})
        deadline = time.monotonic() + timeout if timeout else None
        next_bookmark = time.monotonic() + bookmark_seconds
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            wait = (
                min(x for x in (deadline, next_bookmark if bookmarks else None, now + 30) if x is not None)
                - now
            )
            try:
                event = await asyncio.wait_for(subscriber.queue.get(), timeout=max(wait, 0.001))
            except TimeoutError:
                if bookmarks and time.monotonic() >= next_bookmark:
                    next_bookmark = time.monotonic() + bookmark_seconds
                    await send(
                        {
                            "type": "BOOKMARK",
                            "object": {
                                "kind": kind,
                                "apiVersion": api_version,
                                "metadata": {"resourceVersion": str(store.revision)},
                            },
                        }
                    )
                continue
            if event.resource_version <= last and since is None:
                continue  # already part of the initial state
            seen = watch_filter.translate(event)
            if seen:
                await send({"type": seen, "object": render(event.obj)})
    finally:
        store.unsubscribe(subscriber)


def encode(event: dict[str, Any]) -> bytes:
    return encode_json(event) + b"\n"
