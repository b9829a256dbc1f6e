"""What a training pod reads from the cluster: outcomes in the window, the streams' detectors and
history, and the alias holder's artifact to compare with.

Outcomes come from the outcome archive and from the AgentRuns that still exist, both filtered by
``source.agentRunSelector`` and ``source.window``; a run found in both counts once (the live run's
record wins: it carries the latest label). History for the detector tuner is replayed from each
stream's source over the window, up to the training's start (``history``: Redis streams, Kafka
topics, and the HTTP push workers' rings).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from naksha.controllers.modelversion.aliases import read_aliases
from naksha.controllers.modelversion.archive import read_archive
from naksha.controllers.modelversion.training import read_artifact
from naksha.domain.learning.artifact import ArtifactCorrupt
from naksha.domain.learning.outcomes import ParsedOutcomes, record_from_agent_run
from naksha.domain.learning.training import TrainingError
from naksha.kube import Kube, NotFound
from naksha.models.common import LabelSelector, parse_duration
from naksha.models.insightstream import Detector, InsightStreamSpec
from naksha.models.modelversion import ModelVersionSpec
from naksha.models.resources import AGENT_RUNS, INSIGHT_STREAMS
from naksha.services.trainer import history

SERVICE_ACCOUNT_ENV = "NAKSHA_SERVICE_ACCOUNT"  # the trainer pod's own account (asks for history tokens)


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        value = labels.get(requirement.key)
        if requirement.operator == "In" and value not in requirement.values:
            return False
        if requirement.operator == "NotIn" and present and value in requirement.values:
            return False
        if requirement.operator == "Exists" and not present:
            return False
        if requirement.operator == "DoesNotExist" and present:
            return False
    return True


def gather_outcomes(kube: Kube, namespace: str, spec: ModelVersionSpec, now: float) -> ParsedOutcomes:
    selector = spec.source.agent_run_selector
    by_run: dict[str, dict[str, Any]] = {}
    for record in read_archive(kube, namespace):
        if selector_matches(selector, record.get("runLabels") or {}):
            by_run[str(record.get("run"))] = record
    for run in kube.list(AGENT_RUNS, namespace):
        labels = (run.get("metadata") or {}).get("labels") or {}
        if selector_matches(selector, labels):
            live = record_from_agent_run(run)
            if live is not None:
                by_run[str(live["run"])] = live
    parsed = ParsedOutcomes()
    for item in by_run.values():
        parsed.add(item)
    since = now - parse_duration(spec.source.window)
    parsed.outcomes = sorted(
        (o for o in parsed.outcomes if o.finished_at >= since), key=lambda o: o.finished_at
    )
    return parsed


def gather_detectors_and_history(
    kube: Kube, namespace: str, spec: ModelVersionSpec, now: float
) -> tuple[list[Detector], list[Any]]:
    detectors: list[Detector] = []
    records: list[Any] = []
    since = now - parse_duration(spec.source.window)
    for stream in spec.source.insight_streams:
        try:
            body = kube.get(INSIGHT_STREAMS, namespace, stream)
        except NotFound:
            raise TrainingError(f"InsightStream {stream!r} does not exist") from None
        stream_spec = InsightStreamSpec.model_validate(body.get("spec") or {})
        detectors.extend(stream_spec.detectors)
        records.extend(replay_history(kube, namespace, stream, stream_spec, since, now))
    return detectors, records


def replay_history(
    kube: Kube, namespace: str, stream: str, spec: InsightStreamSpec, since: float, until: float
) -> list[Any]:
    if spec.source.type == "redis" and spec.source.redis is not None:
        return history.replay_redis(kube, namespace, spec, since)
    if spec.source.type == "kafka" and spec.source.kafka is not None:
        return history.replay_kafka(spec, since, until)
    body = kube.get(INSIGHT_STREAMS, namespace, stream)
    account = os.environ.get(SERVICE_ACCOUNT_ENV)
    if not account:
        raise TrainingError(f"{SERVICE_ACCOUNT_ENV} is not set: the trainer cannot ask for a history token")
    # Ten minutes: the replay asks every worker at once, long before the token could expire.
    token, _ = kube.request_token(namespace, account, audiences=[history.HISTORY_AUDIENCE], seconds=600)
    return history.replay_http(stream, body.get("status") or {}, token, since, until)


def holder_artifact(
    kube: Kube, namespace: str, spec: ModelVersionSpec
) -> tuple[str | None, dict[str, Any] | None]:
    """The current alias holder's name and verified artifact (None, None when there is none)."""
    entry = read_aliases(kube, namespace, spec.model).get(spec.promotion.alias)
    if entry is None:
        return None, None
    try:
        return entry.holder.version, read_artifact(
            kube, namespace, entry.holder.artifact, entry.holder.sha256
        )
    except ArtifactCorrupt:
        return entry.holder.version, None
