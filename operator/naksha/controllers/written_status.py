"""A pass's read of its object and its one status write, and the resourceVersion that write made.

kopf runs a kind's timer beside its change handlers, and the body it hands a handler can lag the
status this operator has just written (kopf applies a handler's status patch after the handler
returns, and learns the new version from the watch later still). For a kind whose passes decide
from their own last status (a ChaosExperiment's stage, a Rollout's step), deciding from a stale
one could act twice. So such a pass, under its object's lock, reads the object afresh unless the
body is at the version this operator last wrote or read (an idle object then costs no request),
and writes its status itself, before the lock is released, remembering the version the write made.
A read is as fresh as every write before it, so the version it returns is remembered too: a body
kopf hands over later at that version holds this operator's last status.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from naksha.kube import KubeApi, NotFound
from naksha.models.resources import ResourceRef


class WrittenVersions:
    """The resourceVersion of this operator's last status write or read, per object uid, for one resource."""

    def __init__(self, resource: ResourceRef) -> None:
        self.resource = resource
        self._versions: dict[str, str | None] = {}
        self._guard = threading.Lock()

    def fresh(self, kube: KubeApi, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The object as it stands: ``body`` when it is the version last written or read, else
        read; None when it is gone."""
        metadata = body["metadata"]
        uid = str(metadata["uid"])
        with self._guard:
            known = self._versions.get(uid)
        if known is not None and metadata.get("resourceVersion") == known:
            return body
        try:
            current = kube.get(self.resource, metadata["namespace"], metadata["name"])
        except NotFound:
            return None
        with self._guard:
            self._versions[uid] = (current.get("metadata") or {}).get("resourceVersion")
        return current

    def write(self, kube: KubeApi, uid: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Write the pass's status now and remember the version it made."""
        written = kube.merge_patch(self.resource, namespace, name, {"status": dict(status)}, status=True)
        with self._guard:
            self._versions[uid] = (written.get("metadata") or {}).get("resourceVersion")

    def forget(self, uid: str) -> None:
        """The object is gone: nothing of it to remember."""
        with self._guard:
            self._versions.pop(uid, None)
