"""The outcome archive: every finished AgentRun's outcome record, kept after the run is deleted.

Finished runs are cleaned up, but the loop must still learn from them, so the operator appends
each run's record (``naksha.domain.learning.outcomes.record_from_agent_run``) as the run finishes.
Where it lives: one ConfigMap per namespace, ``naksha-outcomes``, data key ``outcomes.jsonl`` (one
JSON record per line, oldest first). On a cluster that is etcd, so it survives operator and node
restarts and is backed up with the cluster; on the local control plane it is the same ConfigMap in
the local API server's store (the emulator keeps it in memory for its lifetime; the real backend
in its etcd). Bounded: at most ``MAX_RECORDS`` records and ``MAX_BYTES`` bytes (a ConfigMap holds
1 MiB); the oldest records go first. Appends are compare-and-swap on the resourceVersion (a JSON
patch with a test), so concurrent appends never lose a record, and a record already present (the
same run) is not added twice. ``naksha export outcomes`` writes it out for longer keeping.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from naksha.kube import KubeApi, KubeError, NotFound
from naksha.models.resources import CONFIG_MAPS

ARCHIVE = "naksha-outcomes"
KEY = "outcomes.jsonl"
MAX_RECORDS = 2000
MAX_BYTES = 700_000
ATTEMPTS = 20


def read_archive(kube: KubeApi, namespace: str) -> list[dict[str, Any]]:
    """The archived records, oldest first (lines that do not parse are left out)."""
    try:
        config_map = kube.get(CONFIG_MAPS, namespace, ARCHIVE)
    except NotFound:
        return []
    return parse_lines((config_map.get("data") or {}).get(KEY, ""))


def parse_lines(text: str) -> list[dict[str, Any]]:
    records = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            records.append(item)
    return records


def bounded(records: list[dict[str, Any]]) -> str:
    """The archive's text: the newest records that fit both bounds."""
    lines = [json.dumps(r, sort_keys=True, separators=(",", ":")) for r in records[-MAX_RECORDS:]]
    size = sum(len(line) + 1 for line in lines)
    start = 0
    while size > MAX_BYTES and start < len(lines):
        size -= len(lines[start]) + 1
        start += 1
    return "\n".join(lines[start:]) + ("\n" if lines[start:] else "")


def append(kube: KubeApi, namespace: str, record: Mapping[str, Any]) -> bool:
    """Add one run's record; False when that run is archived already."""
    run = record.get("run")

    def change(records: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        if any(r.get("run") == run for r in records):
            return None
        return [*records, dict(record)]

    return rewrite(kube, namespace, change)


def set_label(kube: KubeApi, namespace: str, run: str, label: str) -> bool:
    """Put a human's label on an archived run's record; False when the run is not archived."""

    def change(records: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        if not any(r.get("run") == run for r in records):
            return None
        return [{**r, "label": label} if r.get("run") == run else r for r in records]

    return rewrite(kube, namespace, change)


def rewrite(
    kube: KubeApi, namespace: str, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]] | None]
) -> bool:
    """Apply ``change`` to the records atomically (retried while other writers get there first)."""
    for attempt in range(ATTEMPTS):
        try:
            config_map: dict[str, Any] | None = kube.get(CONFIG_MAPS, namespace, ARCHIVE)
        except NotFound:
            config_map = None
        records = parse_lines(((config_map or {}).get("data") or {}).get(KEY, ""))
        changed = change(records)
        if changed is None:
            return False
        text = bounded(changed)
        try:
            if config_map is None:
                kube.create(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {
                            "name": ARCHIVE,
                            "namespace": namespace,
                            "labels": {"app.kubernetes.io/managed-by": "naksha"},
                        },
                        "data": {KEY: text},
                    }
                )
            else:
                version = config_map["metadata"]["resourceVersion"]
                kube.json_patch(
                    CONFIG_MAPS,
                    namespace,
                    ARCHIVE,
                    [
                        {"op": "test", "path": "/metadata/resourceVersion", "value": version},
                        {"op": "add", "path": "/data", "value": {KEY: text}},
                    ],
                )
            return True
        except KubeError as error:
            # 409: another appender created it first; 422: the resourceVersion test failed.
            # Both mean someone else appended meanwhile: read again and retry.
            if error.status not in (409, 422):
                raise
        time.sleep(min(0.5, 0.01 * (attempt + 1)))
    raise RuntimeError(f"the outcome archive of {namespace} kept changing; the record was not written")
