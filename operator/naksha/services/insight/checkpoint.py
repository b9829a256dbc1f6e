"""Checkpoints: a worker's detector and trigger state, saved per shard with the source position it matches.

A shard is the unit a source hands out: a Kafka partition, a Redis consumer. Its checkpoint is one
document describing exactly the records of that shard up to a position (a Kafka offset; for
Redis, the entries acknowledged in the same transaction): every detector's series state whose
last record came from the shard, the triggers' debounce memory for those series, and the shard's
counters. Sources save it before (Kafka) or together with (Redis) acknowledging those records, so
after a crash the restarted worker restores the state and reads again exactly the records the
state has not seen: a replayed incident raises the same anomaly (the AgentRun's deterministic
name makes the second create a no-op) and an incident not yet turned into an AgentRun is not
missed.

The document is versioned JSON, zlib-compressed. Series states are saved as value lists under a
``fields`` header (``SeriesState.FIELDS``), so a later version can add fields (a new detector
method) and still read older checkpoints. A checkpoint that cannot be read (corrupt, unknown
version, wrong shape) raises ``CheckpointError`` naming why; the caller logs it and starts the
shard afresh from the source's own committed position.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from naksha.domain.insight.detectors import DetectorBank
from naksha.domain.insight.records import Labels
from naksha.domain.insight.series_state import SeriesState
from naksha.errors import NakshaError

logger = logging.getLogger(__name__)
VERSION = 1
COUNTERS = ("ingested", "rejected", "deadLettered", "anomalies", "agentRuns")
Counts = dict[str, int]
DebounceKey = tuple[str, tuple[str, Labels]]  # trigger, (metric, labels)


class CheckpointError(NakshaError, ValueError):
    """A saved checkpoint cannot be used; the message says why."""


def zero_counts() -> Counts:
    return dict.fromkeys(COUNTERS, 0)


@dataclass
class ShardCheckpoint:
    """One shard's saved state, as decoded; ``position`` is whatever its source needs."""

    shard: str
    position: dict[str, Any] = field(default_factory=dict)
    counts: Counts = field(default_factory=zero_counts)
    # detector name -> (fingerprint, [(labels, state)])
    detectors: dict[str, tuple[str, list[tuple[Labels, SeriesState]]]] = field(default_factory=dict)
    debounce: dict[DebounceKey, float] = field(default_factory=dict)


def encode(checkpoint: ShardCheckpoint) -> bytes:
    document = {
        "version": VERSION,
        "shard": checkpoint.shard,
        "position": checkpoint.position,
        "counts": checkpoint.counts,
        "fields": list(SeriesState.FIELDS),
        "detectors": {
            name: {
                "fingerprint": fingerprint,
                "series": [[labels, state.dump()] for labels, state in series],  # tuples: JSON arrays
            }
            for name, (fingerprint, series) in checkpoint.detectors.items()
        },
        "debounce": [
            [trigger, metric, labels, when]
            for (trigger, (metric, labels)), when in checkpoint.debounce.items()
        ],
    }
    return zlib.compress(orjson.dumps(document), 1)


def decode(blob: bytes) -> ShardCheckpoint:
    try:
        document = orjson.loads(zlib.decompress(blob))
    except (zlib.error, ValueError) as error:
        raise CheckpointError(f"not a checkpoint (compressed JSON expected): {error}") from None
    if not isinstance(document, dict):
        raise CheckpointError("not a checkpoint: the document is not an object")
    version = document.get("version")
    if version != VERSION:
        raise CheckpointError(
            f"checkpoint version {version!r} is not supported (this worker reads {VERSION})"
        )
    try:
        return _decode_document(document)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"malformed checkpoint: {type(error).__name__}: {error}") from None


def _decode_document(document: dict[str, Any]) -> ShardCheckpoint:
    shard = document["shard"]
    position = document["position"]
    if not isinstance(shard, str) or not isinstance(position, dict):
        raise TypeError("shard must be a string and position an object")
    counts = zero_counts()
    for name, value in dict(document["counts"]).items():
        if name in counts:
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"counter {name} must be a non-negative integer")
            counts[name] = value
    names = [str(name) for name in document["fields"]]
    detectors: dict[str, tuple[str, list[tuple[Labels, SeriesState]]]] = {}
    for name, saved in dict(document["detectors"]).items():
        series = [
            (_labels(labels), SeriesState.load(names, values, shard)) for labels, values in saved["series"]
        ]
        detectors[str(name)] = (str(saved["fingerprint"]), series)
    debounce: dict[DebounceKey, float] = {}
    for trigger, metric, labels, when in document["debounce"]:
        if not isinstance(when, (int, float)) or not math.isfinite(when):
            raise ValueError("a debounce time must be a finite number")
        debounce[(str(trigger), (str(metric), _labels(labels)))] = float(when)
    return ShardCheckpoint(shard, position, counts, detectors, debounce)


def _labels(pairs: Any) -> Labels:
    labels = tuple((str(key), str(value)) for key, value in pairs)
    return labels


class StateBook:
    """The state a worker checkpoints: its detectors, its triggers' debounce memory, its counters.

    The pipeline counts into ``counts`` (live, per shard). ``committed`` is what the worker
    reports: counts as of the last saved checkpoint, set by the source (a Kafka partition's own
    counts; for Redis, the stream's totals kept in Redis), so a record replayed after a crash is
    counted once, when the checkpoint covering it is saved.
    """

    def __init__(self, bank: DetectorBank, debounce: dict[DebounceKey, tuple[float, str]]) -> None:
        self.bank = bank
        self.debounce = debounce  # owned by the dispatcher: key -> (time, shard)
        self.counts: dict[str, Counts] = {}
        self.committed: dict[str, Counts] = {}
        self.unreadable = 0  # checkpoints found but refused (corrupt, unknown version)
        self.last_error: str | None = None  # reported until the next checkpoint is saved

    def counts_for(self, shard: str) -> Counts:
        counts = self.counts.get(shard)
        if counts is None:
            counts = self.counts[shard] = zero_counts()
        return counts

    def snapshot(self, shard: str, position: Mapping[str, Any]) -> ShardCheckpoint:
        """The shard's state now (call between batches, never in the middle of one)."""
        members = (shard,)
        return ShardCheckpoint(
            shard=shard,
            position=dict(position),
            counts=dict(self.counts_for(shard)),
            detectors={
                runner.name: (runner.fingerprint, list(runner.states(members)))
                for runner in self.bank.runners
            },
            debounce={key: when for key, (when, owner) in self.debounce.items() if owner == shard},
        )

    def saved(self, checkpoints: Iterable[ShardCheckpoint]) -> None:
        """The checkpoints are durable and their records acknowledged: report their counts."""
        for checkpoint in checkpoints:
            self.committed[checkpoint.shard] = dict(checkpoint.counts)
        self.last_error = None

    def restore(self, checkpoint: ShardCheckpoint, *, into: str | None = None) -> list[str]:
        """Take a saved shard back; returns the detectors whose saved state no longer fits the spec.

        ``into`` adopts another shard's detector state into this worker's shard ``into`` without
        its counts (a Redis worker taking over a departed consumer: that consumer's counts were
        reported under its own shard already, and stay there).
        """
        owner = into or checkpoint.shard
        runners = {runner.name: runner for runner in self.bank.runners}
        dropped = []
        for name, (fingerprint, series) in checkpoint.detectors.items():
            runner = runners.get(name)
            if runner is None or runner.fingerprint != fingerprint:
                dropped.append(name)
                continue
            for labels, state in series:
                state.shard = owner
                runner.restore(labels, state)
        for key, when in checkpoint.debounce.items():
            known = self.debounce.get(key)
            if known is None or known[0] < when:
                self.debounce[key] = (when, owner)
        if into is None:
            self.counts[checkpoint.shard] = dict(checkpoint.counts)
        return dropped

    def forget(self, shards: Iterable[str]) -> None:
        """Drop what belongs to shards handed to another worker (after their last checkpoint)."""
        gone = set(shards)
        for runner in self.bank.runners:
            runner.forget(gone)
        for key in [key for key, (_, owner) in self.debounce.items() if owner in gone]:
            del self.debounce[key]
        for shard in gone:
            self.counts.pop(shard, None)
            self.committed.pop(shard, None)

    def restore_saved(self, shard: str, blob: bytes, *, into: str | None = None) -> ShardCheckpoint | None:
        """Decode and restore a stored checkpoint; an unusable one is logged and the shard starts afresh."""
        try:
            checkpoint = decode(blob)
            if checkpoint.shard != shard:
                raise CheckpointError(f"it belongs to shard {checkpoint.shard!r}")
        except CheckpointError as error:
            self.unreadable += 1
            self.last_error = f"checkpoint of {shard} unusable: {error}"
            logger.error(
                "the checkpoint of %s cannot be used (%s); this shard starts afresh from the source's "
                "committed position, with empty detector state",
                shard,
                error,
            )
            return None
        dropped = self.restore(checkpoint, into=into)
        if dropped:
            logger.warning(
                "detectors %s changed method, metric or labels since %s was saved: their state starts afresh",
                ", ".join(sorted(dropped)),
                shard,
            )
        return checkpoint
