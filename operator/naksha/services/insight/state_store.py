"""Where Kafka workers keep their checkpoints: a ConfigMap per InsightStream, one key per partition.

Kafka offers no atomic "save this blob and commit these offsets" on every broker (transactions
are missing on some, tansu among them), so the checkpoint carries its own offsets and is saved
*before* the commit: after a crash between the two, the restarted worker seeks to the
checkpoint's offsets, which are the truth. A ConfigMap fits: the worker already talks to the API,
one merge patch writes several partitions' keys at once, the stream owns it (deleting the stream
removes it), and ``kubectl get configmap <stream>-insight-state -o yaml`` shows it. Its limit is
the API server's object size (about 1 MiB): ``save`` refuses larger checkpoints with a clear
error instead of a cryptic 422.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any

from naksha.errors import NakshaError
from naksha.kube import Conflict, Kube, NotFound
from naksha.models.group import API_VERSION
from naksha.models.labels import INSIGHT_STREAM_LABEL
from naksha.models.resources import CONFIG_MAPS, INSIGHT_STREAMS
from naksha.workloads.naming import child_name

MAX_BYTES = 900_000  # headroom under the API server's 1 MiB object limit (base64 adds a third)
_KEY_INVALID = re.compile(r"[^-._a-zA-Z0-9]")


class StateTooLarge(NakshaError, ValueError):
    """The checkpoint would not fit in one ConfigMap."""


def state_name(stream: str) -> str:
    return child_name(stream, "insight-state")


def shard_key(shard: str) -> str:
    """A ConfigMap key for a shard name (keys allow letters, digits, '-', '_' and '.')."""
    return _KEY_INVALID.sub("_", shard.replace("/", "."))


class ConfigMapStore:
    """Checkpoints of one stream's shards, as binary keys of the ConfigMap ``<stream>-insight-state``."""

    def __init__(self, kube: Kube, *, namespace: str, stream: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.stream = stream
        self.name = state_name(stream)
        self._sizes: dict[str, int] = {}

    def load(self, shards: Iterable[str]) -> dict[str, bytes]:
        try:
            found = self.kube.get(CONFIG_MAPS, self.namespace, self.name)
        except NotFound:
            self._sizes = {}
            return {}
        data: Mapping[str, str] = found.get("binaryData") or {}
        self._sizes = {key: len(value) for key, value in data.items()}
        blobs = {}
        for shard in shards:
            encoded = data.get(shard_key(shard))
            if encoded is not None:
                blobs[shard] = base64.b64decode(encoded)
        return blobs

    def save(self, blobs: Mapping[str, bytes]) -> None:
        encoded = {shard_key(shard): base64.b64encode(blob).decode() for shard, blob in blobs.items()}
        sizes = {**self._sizes, **{key: len(value) for key, value in encoded.items()}}
        if sum(sizes.values()) > MAX_BYTES:
            self.load([])  # the sizes of other writers' keys may have changed: look again
            sizes = {**self._sizes, **{key: len(value) for key, value in encoded.items()}}
        if sum(sizes.values()) > MAX_BYTES:
            raise StateTooLarge(
                f"the checkpoint of stream {self.stream} needs {sum(sizes.values()):,} bytes, more than "
                f"one ConfigMap holds ({MAX_BYTES:,}); fewer series per detector would fit"
            )
        patch = {"binaryData": encoded}
        try:
            self.kube.merge_patch(CONFIG_MAPS, self.namespace, self.name, patch)
        except NotFound:
            try:
                self.kube.create(self._new(encoded))
            except Conflict:  # another worker of the stream created it meanwhile
                self.kube.merge_patch(CONFIG_MAPS, self.namespace, self.name, patch)
        self._sizes = sizes

    def _new(self, encoded: Mapping[str, str]) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": {"app.kubernetes.io/part-of": "naksha", INSIGHT_STREAM_LABEL: self.stream},
        }
        stream = self.kube.get(INSIGHT_STREAMS, self.namespace, self.stream)
        metadata["ownerReferences"] = [
            {
                "apiVersion": API_VERSION,
                "kind": "InsightStream",
                "name": self.stream,
                "uid": stream["metadata"]["uid"],
                "blockOwnerDeletion": False,
            }
        ]
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "binaryData": dict(encoded)}
