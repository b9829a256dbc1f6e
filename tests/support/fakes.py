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


class ReviewingKube(MemoryKube):
    """A MemoryKube that also answers TokenReviews and SubjectAccessReviews, as an API server would.

    ``tokens`` maps a token to (user, groups, audiences it is bound to); ``grants`` holds
    (user or group, namespace, verb, group/resource[/subresource]) tuples — RBAC, flattened.
    """

    def __init__(self, objects: Mapping[tuple[str, str, str], dict[str, Any]] | None = None) -> None:
        super().__init__(objects)
        self.tokens: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
        self.grants: set[tuple[str, str, str, str]] = set()
        self.token_reviews = 0
        self.access_reviews = 0

    def grant(self, subject: str, namespace: str, verb: str, resource: str) -> None:
        self.grants.add((subject, namespace, verb, resource))

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if body.get("kind") == "TokenReview":
            self.token_reviews += 1
            return {**body, "status": self._token_status(body["spec"])}
        if body.get("kind") == "SubjectAccessReview":
            self.access_reviews += 1
            return {**body, "status": self._access_status(body["spec"])}
        return super().create(body)

    def _token_status(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        known = self.tokens.get(spec["token"])
        if known is None:
            return {"authenticated": False, "error": "invalid bearer token"}
        user, groups, bound = known
        wanted = spec.get("audiences") or []
        common = [a for a in wanted if a in bound]
        if wanted and not common:
            return {"authenticated": False, "error": "token audiences do not match"}
        return {
            "authenticated": True,
            "user": {"username": user, "groups": list(groups)},
            "audiences": common,
        }

    def _access_status(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        attributes = spec["resourceAttributes"]
        resource = "/".join(
            part
            for part in (
                attributes.get("group", ""),
                attributes["resource"],
                attributes.get("subresource", ""),
            )
            if part
        )
        for subject in (spec["user"], *spec.get("groups", [])):
            if (subject, attributes["namespace"], attributes["verb"], resource) in self.grants:
                return {"allowed": True, "reason": "granted"}
        return {
            "allowed": False,
            "reason": f"no RBAC rule lets {spec['user']} {attributes['verb']} {resource}",
        }
