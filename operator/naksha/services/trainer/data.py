"""What a training pod reads from the cluster: outcomes in the window, the streams' detectors and
history, and the alias holder's artifact to compare with.

Outcomes come from the outcome archive and from the AgentRuns that still exist, both filtered by
``source.agentRunSelector`` and ``source.window``; a run found in both counts once (the live run's
record wins: it carries the latest label). History for the detector tuner is replayed from the
stream's source where the source keeps it: Redis streams (``XRANGE`` over the window). Kafka
topics and HTTP push streams are not replayed yet; a tuner over such a stream fails with that
reason rather than training on nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from naksha.controllers.modelversion.aliases import read_aliases
from naksha.controllers.modelversion.archive import read_archive
from naksha.controllers.modelversion.training import read_artifact
from naksha.domain.insight.records import ParseResult, RecordParser
from naksha.domain.learning.artifact import ArtifactCorrupt
from naksha.domain.learning.outcomes import ParsedOutcomes, record_from_agent_run
from naksha.domain.learning.training import TrainingError
from naksha.kube import Kube, NotFound
from naksha.models.common import LabelSelector, parse_duration
from naksha.models.insightstream import Detector, InsightStreamSpec
from naksha.models.modelversion import ModelVersionSpec
from naksha.models.resources import AGENT_RUNS, INSIGHT_STREAMS, SECRETS

MAX_HISTORY = 2_000_000


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
        records.extend(replay_history(kube, namespace, stream, stream_spec, since))
    return detectors, records


def replay_history(
    kube: Kube, namespace: str, stream: str, spec: InsightStreamSpec, since: float
) -> list[Any]:
    if spec.source.type != "redis" or spec.source.redis is None:
        raise TrainingError(
            f"InsightStream {stream!r}: replaying history from a {spec.source.type} source is not supported"
            " (only redis streams are replayed)"
        )
    import redis

    from naksha.services.insight.sources.redis_streams import entry_payload

    source = spec.source.redis
    url = source.url
    if url is None and source.url_secret_ref is not None:
        import base64

        secret = kube.get(SECRETS, namespace, source.url_secret_ref.name)
        url = base64.b64decode(secret["data"][source.url_secret_ref.key]).decode()
    client = redis.Redis.from_url(str(url))
    parser = RecordParser(spec.mapping)
    result = ParseResult()
    start = f"{int(since * 1000)}-0"
    read = 0
    while read < MAX_HISTORY:
        entries: Any = client.xrange(source.stream, min=start, count=10_000)
        if not entries:
            break
        for _entry_id, fields in entries:
            parser.parse_into(entry_payload(fields), time.time(), result)
        read += len(entries)
        last = entries[-1][0].decode()
        millis, _, sequence = last.partition("-")
        start = f"{millis}-{int(sequence) + 1}"
    client.close()
    return list(result.records)


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
