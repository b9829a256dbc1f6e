"""Aliases: which version of a model each alias names, kept so exactly one version holds an alias.

A model's aliases live in one ConfigMap, ``<model>-model-aliases``, in the versions' namespace:
one data key per alias, whose value (JSON) names the holder (version, artifact ConfigMap, sha256)
and the previous holders, most recent first. An alias is one key, so it has exactly one holder at
any moment; a move is one JSON patch whose first operation tests the ConfigMap's
resourceVersion, so two concurrent moves cannot both apply on what they read: the second fails
the test, reads again and decides again (``move``). Consumers read the one key and see the old
holder or the new one, never a mix.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from naksha.kube import Conflict, KubeApi, KubeError, NotFound
from naksha.models.labels import MODEL_LABEL
from naksha.models.resources import CONFIG_MAPS
from naksha.workloads.naming import child_name

KEPT_PREVIOUS = 10
ATTEMPTS = 20


class AliasRaceLost(RuntimeError):
    """Another writer kept changing the alias map; nothing was moved."""


def alias_map_name(model: str) -> str:
    return child_name(model, "model-aliases")


@dataclass(frozen=True)
class Holder:
    version: str
    artifact: str
    sha256: str
    moved_at: float = 0.0

    def wire(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "artifact": self.artifact,
            "sha256": self.sha256,
            "movedAt": self.moved_at,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Holder:
        return cls(
            str(data["version"]), str(data["artifact"]), str(data["sha256"]), float(data.get("movedAt", 0))
        )


@dataclass(frozen=True)
class AliasEntry:
    holder: Holder
    previous: tuple[Holder, ...]
    moved: bool = False  # set on the entry ``update`` returns when this call moved the alias


def parse_entry(text: str) -> AliasEntry:
    data = json.loads(text)
    return AliasEntry(Holder.from_wire(data), tuple(Holder.from_wire(p) for p in data.get("previous") or ()))


def read_aliases(kube: KubeApi, namespace: str, model: str) -> dict[str, AliasEntry]:
    """Every alias of the model and its holder ({} when none was ever set)."""
    try:
        config_map = kube.get(CONFIG_MAPS, namespace, alias_map_name(model))
    except NotFound:
        return {}
    return {alias: parse_entry(text) for alias, text in (config_map.get("data") or {}).items()}


# Decides the new entry from the current one (None: the alias is unset); None leaves it as it is.
Decide = Callable[[AliasEntry | None], AliasEntry | None]


def update(kube: KubeApi, namespace: str, model: str, alias: str, decide: Decide) -> AliasEntry | None:
    """Apply ``decide`` to the alias atomically (compare-and-swap on the map's resourceVersion)."""
    name = alias_map_name(model)
    for attempt in range(ATTEMPTS):
        try:
            config_map = kube.get(CONFIG_MAPS, namespace, name)
        except NotFound:
            config_map = None
        data = (config_map or {}).get("data") or {}
        current = parse_entry(data[alias]) if alias in data else None
        wanted = decide(current)
        if wanted is None or wanted == current:
            return current
        value = json.dumps({**wanted.holder.wire(), "previous": [p.wire() for p in wanted.previous]})
        try:
            if config_map is None:
                kube.create(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {
                            "name": name,
                            "namespace": namespace,
                            "labels": {"app.kubernetes.io/managed-by": "naksha", MODEL_LABEL: model},
                        },
                        "data": {alias: value},
                    }
                )
            else:
                operations: list[dict[str, Any]] = [
                    {
                        "op": "test",
                        "path": "/metadata/resourceVersion",
                        "value": config_map["metadata"]["resourceVersion"],
                    }
                ]
                if "data" not in config_map:
                    operations.append({"op": "add", "path": "/data", "value": {}})
                operations.append({"op": "add", "path": f"/data/{alias}", "value": value})
                kube.json_patch(CONFIG_MAPS, namespace, name, operations)
            return dataclasses.replace(wanted, moved=True)
        except Conflict:
            pass  # created by another writer meanwhile
        except KubeError as error:
            if error.status not in (409, 422):  # 422: the test failed, someone moved it first
                raise
        time.sleep(min(0.5, 0.01 * (attempt + 1)))
    raise AliasRaceLost(f"alias {alias!r} of model {model!r} kept changing; nothing was moved")


def move(kube: KubeApi, namespace: str, model: str, alias: str, holder: Holder) -> AliasEntry | None:
    """Give ``alias`` to ``holder``; the previous holder goes first in its ``previous`` list."""

    def decide(current: AliasEntry | None) -> AliasEntry | None:
        if current is not None and current.holder.version == holder.version:
            return None
        previous = () if current is None else (current.holder, *current.previous)
        previous = tuple(p for p in previous if p.version != holder.version)[:KEPT_PREVIOUS]
        return AliasEntry(holder, previous)

    return update(kube, namespace, model, alias, decide)


def move_if_held_by(
    kube: KubeApi, namespace: str, model: str, alias: str, holder: Holder, expected: str | None
) -> AliasEntry | None:
    """Move only while ``expected`` holds the alias (None: while nobody does): an automatic
    promotion decided against one holder must not displace a holder that came meanwhile."""

    def decide(current: AliasEntry | None) -> AliasEntry | None:
        held_by = None if current is None else current.holder.version
        if held_by != expected or held_by == holder.version:
            return None
        previous = () if current is None else (current.holder, *current.previous)
        return AliasEntry(holder, tuple(p for p in previous if p.version != holder.version)[:KEPT_PREVIOUS])

    return update(kube, namespace, model, alias, decide)


def roll_back(
    kube: KubeApi, namespace: str, model: str, alias: str, *, only_from: str | None = None
) -> AliasEntry | None:
    """Give the alias back to its previous holder (``only_from``: only if that version holds it)."""

    def decide(current: AliasEntry | None) -> AliasEntry | None:
        if current is None or not current.previous:
            return None
        if only_from is not None and current.holder.version != only_from:
            return None
        back = current.previous[0]
        return AliasEntry(Holder(back.version, back.artifact, back.sha256, time.time()), current.previous[1:])

    return update(kube, namespace, model, alias, decide)
