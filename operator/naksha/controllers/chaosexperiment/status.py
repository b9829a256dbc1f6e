"""A ChaosExperiment pass's read of its object and its one status write, and the version it wrote.

The timer is the run's clock, and the body kopf hands a timer can lag the status this operator
has just written; deciding from a stale stage could inject twice. So a pass reads the experiment
afresh unless the body is at the version this operator last wrote (an idle experiment then costs
no request), and writes its status itself, at once, remembering the version the write produced.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from naksha.kube import KubeApi, NotFound
from naksha.models.resources import CHAOS_EXPERIMENTS


class WrittenVersions:
    """The resourceVersion of this operator's last status write, per experiment uid."""

    def __init__(self) -> None:
        self._versions: dict[str, str | None] = {}
        self._guard = threading.Lock()

    def fresh(self, kube: KubeApi, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The experiment as it stands: ``body`` when it is the version last written, else read;
        None when it is gone."""
        metadata = body["metadata"]
        with self._guard:
            known = self._versions.get(str(metadata["uid"]))
        if metadata.get("resourceVersion") == known:
            return body
        try:
            return kube.get(CHAOS_EXPERIMENTS, metadata["namespace"], metadata["name"])
        except NotFound:
            return None

    def write(self, kube: KubeApi, uid: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Write the pass's status now and remember the version it made."""
        written = kube.merge_patch(CHAOS_EXPERIMENTS, namespace, name, {"status": dict(status)}, status=True)
        with self._guard:
            self._versions[uid] = (written.get("metadata") or {}).get("resourceVersion")

    def forget(self, uid: str) -> None:
        """The experiment is gone: nothing of it to remember."""
        with self._guard:
            self._versions.pop(uid, None)
