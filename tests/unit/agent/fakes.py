"""A Kubernetes API in memory, implementing the few ``naksha.kube.Kube`` verbs the agent API uses.

Used where a unit test drives the real HTTP API without a control plane: it stores what is
created (so a test can count it) and serves the playbook ConfigMaps it was given.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Mapping
from typing import Any

from naksha.kube import Conflict, NotFound, ResourceRef


class MemoryKube:
    def __init__(self, objects: Mapping[tuple[str, str, str], dict[str, Any]] | None = None) -> None:
        # (plural, namespace, name) → object
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = dict(objects or {})
        self.created: list[dict[str, Any]] = []
        self._serial = itertools.count()
        self._lock = threading.Lock()

    def get(self, ref: ResourceRef, namespace: str | None, name: str) -> dict[str, Any]:
        try:
            return copy.deepcopy(self.objects[(ref.plural, namespace or "", name)])
        except KeyError:
            raise NotFound(404, "NotFound", f"{ref.plural} {namespace}/{name} not found") from None

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        created = copy.deepcopy(dict(body))
        meta = created["metadata"]
        with self._lock:
            if "name" not in meta:
                meta["name"] = f"{meta.pop('generateName', 'x-')}{next(self._serial):05d}"
            key = (created["kind"].lower() + "s", meta["namespace"], meta["name"])
            if key in self.objects:
                raise Conflict(409, "AlreadyExists", f"{meta['name']} exists")
            self.objects[key] = created
            self.created.append(created)
        return copy.deepcopy(created)


def playbook_config_map(namespace: str, name: str, text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"namespace": namespace, "name": name, "labels": {"naksha.io/playbook": "true"}},
        "data": {"playbook.yaml": text},
    }
