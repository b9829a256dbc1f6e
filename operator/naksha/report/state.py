"""What the reports are written from: the live state of a cluster, read once.

``collect`` reads every Naksha object of the six kinds in all namespaces, the Events about them,
the API server's version, and each InsightStream worker's ``/health`` and ``/metrics`` at its
Service address. A worker that cannot be reached from where the report runs (a real cluster's
Service network) is recorded with the reason rather than left out.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from naksha.controllers.modelversion.aliases import alias_map_name
from naksha.controllers.modelversion.archive import ARCHIVE
from naksha.kube import Kube, KubeError, NotFound, resource_for
from naksha.models.group import API_VERSION
from naksha.models.labels import EDGE_TRIGGER_LABEL
from naksha.models.resources import CONFIG_MAPS, EVENTS, SERVICES
from naksha.report.capabilities import CAPABILITIES
from naksha.workloads.insight import WORKER_PORT, worker_name

PROBE_TIMEOUT_SECONDS = 3.0
METRIC_PREFIXES = ("naksha_insight_", "naksha_worker_")


@dataclass
class WorkerProbe:
    stream: str  # namespace/name
    url: str
    health: str | None = None
    metrics: str | None = None
    error: str | None = None


@dataclass
class LiveState:
    collected_at: float
    server: dict[str, Any]
    objects: dict[str, list[dict[str, Any]]]  # by kind
    events: list[dict[str, Any]]
    workers: list[WorkerProbe] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # kind -> why it could not be listed
    # ConfigMaps the ModelVersion and EdgeNode reports read (``related``): "artifacts", "aliases",
    # "archives" (the outcome archives) and "edge-triggers" (trigger requests and their results).
    config_maps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return self.objects.get(kind, [])

    def events_of(self, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
        found = [
            e
            for e in self.events
            if (e.get("involvedObject") or {}).get("kind") == kind
            and (e.get("involvedObject") or {}).get("name") == name
            and (e.get("metadata") or {}).get("namespace") == namespace
        ]
        return sorted(found, key=event_time)


def event_time(event: dict[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or "")


def collect(kube: Kube, *, probe_workers: bool = True) -> LiveState:
    try:
        server = kube.server_version()
    except KubeError as error:
        server = {"error": str(error)}
    objects: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for capability in CAPABILITIES:
        try:
            objects[capability.kind] = sorted(
                kube.list(resource_for(API_VERSION, capability.kind), None),
                key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]),
            )
        except KubeError as error:
            objects[capability.kind] = []
            errors[capability.kind] = str(error)
    kinds = {c.kind for c in CAPABILITIES}
    try:
        events = [e for e in kube.list(EVENTS, None) if (e.get("involvedObject") or {}).get("kind") in kinds]
    except KubeError as error:
        events, errors["Event"] = [], str(error)
    state = LiveState(time.time(), server, objects, events, errors=errors)
    state.config_maps = related(kube, state)
    if probe_workers:
        state.workers = [probe(kube, stream) for stream in state.of("InsightStream")]
    return state


def related(kube: Kube, state: LiveState) -> dict[str, list[dict[str, Any]]]:
    """The ConfigMaps behind the ModelVersions (artifacts, aliases, outcome archives) and the
    EdgeNodes' trigger requests; one that cannot be read is left out (the reports say so)."""
    wanted: dict[str, set[tuple[str, str]]] = {"artifacts": set(), "aliases": set(), "archives": set()}
    for version in state.of("ModelVersion"):
        namespace = version["metadata"].get("namespace", "default")
        artifact = ((version.get("status") or {}).get("artifact") or {}).get("configMap")
        if artifact:
            wanted["artifacts"].add((namespace, str(artifact)))
        model = (version.get("spec") or {}).get("model")
        if model:
            wanted["aliases"].add((namespace, alias_map_name(str(model))))
        wanted["archives"].add((namespace, ARCHIVE))
    found: dict[str, list[dict[str, Any]]] = {}
    for group, names in wanted.items():
        found[group] = []
        for namespace, name in sorted(names):
            try:
                found[group].append(kube.get(CONFIG_MAPS, namespace, name))
            except KubeError:
                continue
    try:
        found["edge-triggers"] = kube.list(CONFIG_MAPS, None, label_selector=EDGE_TRIGGER_LABEL)
    except KubeError as error:
        found["edge-triggers"], state.errors["edge-triggers"] = [], str(error)
    return found


def probe(kube: Kube, stream: dict[str, Any]) -> WorkerProbe:
    namespace, name = stream["metadata"].get("namespace", "default"), stream["metadata"]["name"]
    label = f"{namespace}/{name}"
    try:
        service = kube.get(SERVICES, namespace, worker_name(name))
    except NotFound:
        return WorkerProbe(label, "", error="the stream has no worker Service")
    address = (service.get("spec") or {}).get("clusterIP")
    if not address or address == "None":
        return WorkerProbe(label, "", error="the worker Service has no cluster IP")
    url = f"http://{address}:{WORKER_PORT}"
    found = WorkerProbe(label, url)
    try:
        found.health = _get(f"{url}/health")
        metrics = _get(f"{url}/metrics")
    except (OSError, urllib.error.URLError) as error:
        found.error = f"not reachable from here: {error}"
        return found
    found.metrics = "\n".join(line for line in metrics.splitlines() if line.startswith(METRIC_PREFIXES))
    return found


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_SECONDS) as answer:
        return str(answer.read().decode())
