"""The emulator's in-memory object store: objects by resource, a global resourceVersion, watch fan-out.

Everything runs on the emulator's own event loop, so no locks are needed: a write assigns
the next resourceVersion, stores the object, records the event in a bounded history (watches
resume from it) and hands it to every live subscriber of that resource.
"""

from __future__ import annotations

import asyncio
import collections
import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

HISTORY_LIMIT = 50_000
# The first resourceVersion handed out is just above this. Like a server that has been running
# (a real API server's watch cache starts at its first list, and etcd compacts its past), the
# emulator has no history before its start: a watch from an older resourceVersion, such as the
# "1" some clients send, gets 410 Expired and relists instead of replaying from the beginning.
STARTING_REVISION = 1000


@dataclass(frozen=True, slots=True)
class WatchEvent:
    resource_version: int
    resource: str
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass(eq=False)
class Subscriber:
    resource: str
    namespace: str | None
    queue: asyncio.Queue[WatchEvent] = field(default_factory=asyncio.Queue)


class Store:
    def __init__(self, history_limit: int = HISTORY_LIMIT) -> None:
        self.revision = STARTING_REVISION
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = collections.defaultdict(dict)
        self._history: collections.deque[WatchEvent] = collections.deque(maxlen=history_limit)
        self._subscribers: dict[str, set[Subscriber]] = collections.defaultdict(set)
        self._dependents: dict[str, set[tuple[str, str, str]]] = collections.defaultdict(set)
        # (resource, label key, label value) -> keys of the objects carrying it: label-selected
        # lists then touch only candidates, so their cost does not grow with unrelated objects.
        self._labelled: dict[tuple[str, str, str], set[tuple[str, str]]] = collections.defaultdict(set)

    def next_revision(self) -> int:
        self.revision += 1
        return self.revision

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects[resource].get((namespace, name))

    def items(self, resource: str, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        for (ns, _), obj in self._objects[resource].items():
            if namespace is None or ns == namespace:
                yield obj

    def resources(self) -> list[str]:
        return [key for key, objects in self._objects.items() if objects]

    def count(self, resource: str) -> int:
        return len(self._objects[resource])

    def put(self, resource: str, obj: dict[str, Any], event_type: str) -> dict[str, Any]:
        """Store ``obj`` under a new resourceVersion and publish the event; returns the stored object."""
        meta = obj["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        old = self._objects[resource].get(key)
        revision = self.next_revision()
        meta["resourceVersion"] = str(revision)
        self._objects[resource][key] = obj
        self._index_owners(resource, key, old, obj)
        self._index_labels(resource, key, old, obj)
        self._publish(WatchEvent(revision, resource, event_type, obj, old))
        return obj

    def remove(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        old = self._objects[resource].pop((namespace, name), None)
        if old is None:
            return None
        gone = copy.copy(old)
        gone["metadata"] = {**old["metadata"], "resourceVersion": str(self.next_revision())}
        self._index_owners(resource, (namespace, name), old, None)
        self._index_labels(resource, (namespace, name), old, None)
        self._publish(WatchEvent(self.revision, resource, "DELETED", gone, old))
        return gone

    def labelled(self, resource: str, key: str, value: str) -> list[dict[str, Any]]:
        """Objects of ``resource`` whose label ``key`` equals ``value``."""
        objects = self._objects[resource]
        return [objects[k] for k in self._labelled.get((resource, key, value), ()) if k in objects]

    def dependents_of(self, uid: str) -> set[tuple[str, str, str]]:
        return set(self._dependents.get(uid, ()))

    def history_since(self, resource: str, revision: int) -> list[WatchEvent] | None:
        """Events of ``resource`` after ``revision``; None when that point fell out of the history."""
        # Every write makes exactly one event, so the history is contiguous in resourceVersion.
        if revision < self.oldest_revision - 1:
            return None
        return [e for e in self._history if e.resource_version > revision and e.resource == resource]

    @property
    def oldest_revision(self) -> int:
        """The resourceVersion of the oldest event a watch can still resume after (minus one)."""
        return self._history[0].resource_version if self._history else self.revision + 1

    def subscribe(self, resource: str, namespace: str | None) -> Subscriber:
        subscriber = Subscriber(resource, namespace)
        self._subscribers[resource].add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers[subscriber.resource].discard(subscriber)

    def _publish(self, event: WatchEvent) -> None:
        self._history.append(event)
        namespace = event.obj["metadata"].get("namespace") or ""
        for subscriber in self._subscribers.get(event.resource, ()):
            if subscriber.namespace is None or subscriber.namespace == namespace:
                subscriber.queue.put_nowait(event)

    def _index_owners(
        self, resource: str, key: tuple[str, str], old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        entry = (resource, key[0], key[1])
        for obj, add in ((old, False), (new, True)):
            for ref in (obj or {}).get("metadata", {}).get("ownerReferences") or []:
                uid = ref.get("uid")
                if not uid:
                    continue
                if add:
                    self._dependents[uid].add(entry)
                else:
                    self._dependents[uid].discard(entry)

    def _index_labels(
        self, resource: str, key: tuple[str, str], old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        old_labels = ((old or {}).get("metadata") or {}).get("labels") or {}
        new_labels = ((new or {}).get("metadata") or {}).get("labels") or {}
        if old_labels == new_labels:
            return
        for label, value in old_labels.items():
            entry = self._labelled.get((resource, label, str(value)))
            if entry is not None:
                entry.discard(key)
                if not entry:
                    del self._labelled[(resource, label, str(value))]
        for label, value in new_labels.items():
            self._labelled[(resource, label, str(value))].add(key)
