"""Where Kafka workers keep their checkpoints: the stream's state ConfigMap, one key per partition,
and spill ConfigMaps for checkpoints larger than one ConfigMap holds.

Kafka offers no atomic "save this blob and commit these offsets" on every broker (transactions
are missing on some, tansu among them), so the checkpoint carries its own offsets and is saved
*before* the commit: after a crash between the two, the restarted worker seeks to the
checkpoint's offsets, which are the truth. A ConfigMap fits: the worker already talks to the API,
one merge patch writes several partitions' keys at once, the stream owns it (deleting the stream
removes it), and ``kubectl get configmap <stream>-insight-state -o yaml`` shows it.

A ConfigMap holds about 1 MiB, and a detector's state at its 10,000-series cap can be several
(the ``predictive`` method keeps about 100 numbers per series). A shard's checkpoint that does not
fit in the state ConfigMap beside the others is **spilled**: cut into parts kept in the spill
ConfigMaps ``<stream>-insight-state-1`` ... ``-<SPILL_MAPS>``, under keys that name the shard and
the checkpoint's digest, while the state ConfigMap's key for the shard holds a small manifest
(the parts, in order, and the digest of the whole). The manifest is the commit point: parts are
written first, then the manifest (with the other shards' keys, in one patch as before), and only
then are the previous checkpoint's parts removed. A crash at any point leaves a manifest whose
parts are all there; parts left behind by a crash before the manifest was written are removed
by a later save of that shard. A part that is missing or a whole whose digest differs (someone
deleted a spill ConfigMap) makes that shard's checkpoint unusable, which the worker reports and
survives like a corrupt one. Checkpoints beyond what all the ConfigMaps hold are refused with a
clear error instead of a cryptic 422.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from naksha.errors import NakshaError
from naksha.kube import Conflict, Kube, NotFound
from naksha.models.group import API_VERSION
from naksha.models.labels import INSIGHT_STREAM_LABEL
from naksha.models.resources import CONFIG_MAPS, INSIGHT_STREAMS
from naksha.workloads.naming import INSIGHT_STATE_SPILL_MAPS, insight_state_names

logger = logging.getLogger(__name__)
MAX_BYTES = 900_000  # headroom under the API server's 1 MiB object limit (base64 adds a third)
# A part is at most half a spill ConfigMap, so a part of the previous checkpoint and one of the
# next fit side by side while a save is under way.
PART_BYTES = MAX_BYTES // 2
# 28.8 MB of parts: about 14 MB of checkpoints, with room for the next one's parts beside them.
SPILL_MAPS = INSIGHT_STATE_SPILL_MAPS
MANIFEST = b"naksha-checkpoint-parts/1\n"  # a compressed checkpoint never starts like this
_KEY_INVALID = re.compile(r"[^-._a-zA-Z0-9]")
Parts = list[tuple[str, str]]  # (spill ConfigMap, key), in order


class StateTooLarge(NakshaError, ValueError):
    """The checkpoint would not fit in the stream's ConfigMaps."""


def state_name(stream: str) -> str:
    return insight_state_names(stream)[0]


def spill_names(stream: str) -> list[str]:
    """The spill ConfigMaps of a stream, in the order they are filled."""
    return list(insight_state_names(stream)[1:])


def shard_key(shard: str) -> str:
    """A ConfigMap key for a shard name (keys allow letters, digits, '-', '_' and '.')."""
    return _KEY_INVALID.sub("_", shard.replace("/", "."))


def _manifest(blob: bytes, parts: Parts) -> bytes:
    digest = hashlib.sha256(blob).hexdigest()
    return MANIFEST + json.dumps({"digest": digest, "size": len(blob), "parts": parts}).encode()


def _parts_of(manifest: bytes) -> tuple[str, Parts]:
    """The digest and parts a manifest names; ``ValueError`` when it is not one."""
    document = json.loads(manifest[len(MANIFEST) :])
    parts = [(str(name), str(key)) for name, key in document["parts"]]
    return str(document["digest"]), parts


class ConfigMapStore:
    """Checkpoints of one stream's shards, as binary keys of ``<stream>-insight-state`` and its spill maps."""

    def __init__(self, kube: Kube, *, namespace: str, stream: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.stream = stream
        self.name = state_name(stream)
        self.spills = spill_names(stream)
        self._sizes: dict[str, int] = {}  # key -> encoded size, in the state ConfigMap
        self._spilled: dict[str, dict[str, int]] | None = None  # spill map -> key -> size (None: unread)
        self._parts: dict[str, Parts] = {}  # shard key -> the parts its saved manifest names

    def load(self, shards: Iterable[str]) -> dict[str, bytes]:
        try:
            found = self.kube.get(CONFIG_MAPS, self.namespace, self.name)
        except NotFound:
            self._sizes = {}
            return {}
        data: Mapping[str, str] = found.get("binaryData") or {}
        self._sizes = {key: len(value) for key, value in data.items()}
        blobs = {}
        spilled: dict[str, Mapping[str, str]] = {}  # spill maps read by this load
        for shard in shards:
            encoded = data.get(shard_key(shard))
            if encoded is None:
                continue
            blob = base64.b64decode(encoded)
            if blob.startswith(MANIFEST):
                blob = self._assemble(shard, blob, spilled)
            blobs[shard] = blob
        return blobs

    def _assemble(self, shard: str, manifest: bytes, spilled: dict[str, Mapping[str, str]]) -> bytes:
        """A spilled checkpoint put back together; ``b""`` (which no decoder takes) when it cannot be."""
        try:
            digest, parts = _parts_of(manifest)
        except (ValueError, KeyError, TypeError) as error:
            logger.error("the checkpoint manifest of %s is malformed: %s", shard, error)
            return b""
        self._parts[shard_key(shard)] = parts
        pieces = []
        for name, key in parts:
            if name not in spilled:
                spilled[name] = self._read_spill(name)
            encoded = spilled[name].get(key)
            if encoded is None:
                logger.error("the checkpoint of %s lacks its part %s in ConfigMap %s", shard, key, name)
                return b""
            pieces.append(encoded)
        blob = base64.b64decode("".join(pieces))
        if hashlib.sha256(blob).hexdigest() != digest:
            logger.error("the checkpoint of %s does not match its manifest's digest", shard)
            return b""
        return blob

    def _binary_data(self, name: str) -> Mapping[str, str]:
        try:
            data: Mapping[str, str] = self.kube.get(CONFIG_MAPS, self.namespace, name).get("binaryData") or {}
        except NotFound:
            return {}
        return data

    def _read_spill(self, name: str) -> Mapping[str, str]:
        data = self._binary_data(name)
        if self._spilled is not None:
            self._spilled[name] = {key: len(value) for key, value in data.items()}
        return data

    def save(self, blobs: Mapping[str, bytes]) -> None:
        whole = {shard_key(shard): blob for shard, blob in blobs.items()}
        encoded = {key: base64.b64encode(blob).decode() for key, blob in whole.items()}
        spill = self._to_spill(encoded)
        inline = {key: value for key, value in encoded.items() if key not in spill}
        parts: dict[str, Parts] = {}
        try:
            if spill:
                # The parts first: the manifests written below are what makes them the checkpoint.
                parts = self._write_parts({key: encoded[key] for key in spill}, whole)
                for key in spill:
                    inline[key] = base64.b64encode(_manifest(whole[key], parts[key])).decode()
            self._patch(self.name, inline)
        except NakshaError:
            self._spilled = None  # another writer may have changed them: look again next time
            raise
        self._sizes.update({key: len(value) for key, value in inline.items()})
        stale: dict[str, dict[str, None]] = {}
        for key in whole:
            kept = set(parts.get(key, []))
            for name, part in self._parts.pop(key, []):
                if (name, part) not in kept:
                    stale.setdefault(name, {})[part] = None
        self._parts.update(parts)
        self._remove(stale)

    def _to_spill(self, encoded: Mapping[str, str]) -> set[str]:
        """The keys to spill so the state ConfigMap holds the rest (largest first)."""
        sizes = {**self._sizes, **{key: len(value) for key, value in encoded.items()}}
        if sum(sizes.values()) > MAX_BYTES:
            self.load([])  # the sizes of other writers' keys may have changed: look again
            sizes = {**self._sizes, **{key: len(value) for key, value in encoded.items()}}
        spill: set[str] = set()
        for key in sorted(encoded, key=lambda key: len(encoded[key]), reverse=True):
            if sum(sizes.values()) <= MAX_BYTES:
                break
            spill.add(key)
            sizes[key] = 400 + 200 * (len(encoded[key]) // PART_BYTES + 1)  # its manifest, at most
        if sum(sizes.values()) > MAX_BYTES:
            raise StateTooLarge(
                f"the checkpoint of stream {self.stream} needs {sum(sizes.values()):,} bytes in ConfigMap "
                f"{self.name}, more than one ConfigMap holds ({MAX_BYTES:,}), even with its largest "
                "shards spilled: other keys fill it"
            )
        return spill

    def _write_parts(self, encoded: Mapping[str, str], whole: Mapping[str, bytes]) -> dict[str, Parts]:
        """Write each spilled checkpoint's parts where there is room; returns where they went."""
        if self._spilled is None:
            self._read_spills(set(encoded))
        planned = self._plan(encoded, whole)
        if planned is None:  # the sizes seen may be stale, or a crashed save left parts: look again
            self._read_spills(set(encoded))
            planned = self._plan(encoded, whole)
        if planned is None:
            total = sum(len(value) for value in encoded.values())
            raise StateTooLarge(
                f"the checkpoint of stream {self.stream} needs {total:,} bytes beyond what its state "
                f"ConfigMap holds, more than one ConfigMap holds and more than its {SPILL_MAPS} spill "
                "ConfigMaps have room for; fewer series per detector would fit"
            )
        writes, placed = planned
        assert self._spilled is not None
        for name, chunks in writes.items():
            self._patch(name, chunks)
            self._spilled[name].update({part: len(chunk) for part, chunk in chunks.items()})
        return placed

    def _plan(
        self, encoded: Mapping[str, str], whole: Mapping[str, bytes]
    ) -> tuple[dict[str, dict[str, str]], dict[str, Parts]] | None:
        """Per spill map, the parts to write into it (first fit), and each key's parts in order;
        ``None`` when they do not fit."""
        assert self._spilled is not None
        room = {name: MAX_BYTES - sum(self._spilled.get(name, {}).values()) for name in self.spills}
        writes: dict[str, dict[str, str]] = {}
        placed: dict[str, Parts] = {}
        for key, value in encoded.items():
            digest = hashlib.sha256(whole[key]).hexdigest()[:16]
            placed[key] = []
            for index, start in enumerate(range(0, len(value), PART_BYTES)):
                chunk = value[start : start + PART_BYTES]
                name = next((name for name in self.spills if room[name] >= len(chunk)), None)
                if name is None:
                    return None
                part = f"{key}.{digest}.{index}"
                room[name] -= len(chunk)
                writes.setdefault(name, {})[part] = chunk
                placed[key].append((name, part))
        return writes, placed

    def _read_spills(self, saving: set[str]) -> None:
        """Read every spill map's sizes, removing parts of the shards in ``saving`` that no saved
        manifest names (left by a save that crashed before writing its manifest)."""
        self._known_parts(saving)
        self._spilled = {}
        orphans: dict[str, dict[str, None]] = {}
        for name in self.spills:
            for part in self._read_spill(name):
                owner = part.rsplit(".", 2)[0]
                if owner in saving and (name, part) not in self._parts.get(owner, []):
                    orphans.setdefault(name, {})[part] = None
        self._remove(orphans)

    def _known_parts(self, keys: set[str]) -> None:
        """Learn the parts that the saved manifests of ``keys`` name (a worker that took a shard
        over without loading it must not take its parts for leftovers)."""
        data = self._binary_data(self.name)
        for key in keys & data.keys():
            saved = base64.b64decode(data[key])
            if saved.startswith(MANIFEST):
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    self._parts[key] = _parts_of(saved)[1]

    def _remove(self, parts: Mapping[str, Mapping[str, None]]) -> None:
        for name, gone in parts.items():
            try:
                self.kube.merge_patch(CONFIG_MAPS, self.namespace, name, {"binaryData": dict(gone)})
            except NotFound:
                pass  # the spill ConfigMap is gone already, and its parts with it: nothing to remove
            except NakshaError as error:  # the checkpoint is saved; a later save removes them
                logger.warning("parts of an older checkpoint stay in ConfigMap %s for now: %s", name, error)
                continue
            if self._spilled is not None and name in self._spilled:
                for part in gone:
                    self._spilled[name].pop(part, None)

    def _patch(self, name: str, data: Mapping[str, str]) -> None:
        """Merge ``data`` into the binary data of ConfigMap ``name``, creating it when missing."""
        patch = {"binaryData": dict(data)}
        try:
            self.kube.merge_patch(CONFIG_MAPS, self.namespace, name, patch)
        except NotFound:
            try:
                self.kube.create(self._new(name, data))
            except Conflict:  # another worker of the stream created it meanwhile
                self.kube.merge_patch(CONFIG_MAPS, self.namespace, name, patch)

    def _new(self, name: str, data: Mapping[str, str]) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": name,
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
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "binaryData": dict(data)}
