"""From an anomaly to an AgentRun: the deterministic dedupe key and the AgentRun object it names.

The key hashes the stream, the trigger, the detector, the series and the incident's start
bucketed by the trigger's ``debounce``. A replay of the same records, or a second worker that
saw the same series, computes the same key, and the AgentRun's name is derived from it: the API
server's 409 on the second create is what makes a trigger fire exactly once per incident.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from naksha.domain.insight.detectors import Anomaly
from naksha.models.agentrun import AgentRunSpec
from naksha.models.group import API_VERSION
from naksha.models.insightstream import Trigger
from naksha.models.labels import (
    DEDUPE_ANNOTATION,
    DEDUPE_LABEL,
    DETECTOR_MODEL_ANNOTATION,
    TRIGGER_LABEL,
    TRIGGERED_BY_STREAM_LABEL,
)

METRIC_KEY = "__name__"  # the metric inside a series, as Prometheus names it
NAME_PREFIX_LIMIT = 50


def dedupe_key(namespace: str, stream: str, trigger: str, anomaly: Anomaly, debounce_seconds: float) -> str:
    bucket = math.floor(anomaly.started_at / debounce_seconds) if debounce_seconds > 0 else anomaly.started_at
    labels = ",".join(f"{k}={v}" for k, v in anomaly.labels)
    identity = "\n".join([namespace, stream, trigger, anomaly.detector, anomaly.metric, labels, str(bucket)])
    return hashlib.sha256(identity.encode()).hexdigest()


def agent_run_name(stream: str, trigger: str, key: str) -> str:
    prefix = f"{stream}-{trigger}"[:NAME_PREFIX_LIMIT].rstrip("-")
    return f"{prefix}-{key[:12]}"


def agent_run_manifest(
    namespace: str,
    stream: str,
    trigger: Trigger,
    anomaly: Anomaly,
    key: str,
    detector_model_version: str | None = None,
) -> dict[str, Any]:
    """The AgentRun a trigger creates; raises ValueError when the trigger's template is not a valid spec.

    ``detector_model_version``: the tuned version whose parameters the detector ran when it fired,
    recorded on the run so that its outcome (and a human's label) is attributed to that version.
    """
    template = trigger.agent_run
    spec: dict[str, Any] = dict(template.spec)
    if template.playbook:
        spec["playbookRef"] = {"name": template.playbook}
    if template.target:
        spec["target"] = dict(template.target)
    signal: dict[str, Any] = {
        "source": f"insightstream/{stream}",
        "stream": stream,
        "detector": anomaly.detector,
        "series": {METRIC_KEY: anomaly.metric, **dict(anomaly.labels)},
        "value": anomaly.value,
        "score": round(anomaly.score, 6),
        "detectedAt": anomaly.summary()["detectedAt"],
        "dedupeKey": key,
    }
    if anomaly.window > 0:
        signal["window"] = f"{int(anomaly.window)}s"
    spec["signal"] = signal
    AgentRunSpec.model_validate(spec)  # refuse here, with the model's reason, rather than at the API
    return {
        "apiVersion": API_VERSION,
        "kind": "AgentRun",
        "metadata": {
            "name": agent_run_name(stream, trigger.name, key),
            "namespace": namespace,
            "labels": {
                TRIGGERED_BY_STREAM_LABEL: stream,
                TRIGGER_LABEL: trigger.name,
                DEDUPE_LABEL: key[:63],
            },
            "annotations": {
                DEDUPE_ANNOTATION: key,
                **({DETECTOR_MODEL_ANNOTATION: detector_model_version} if detector_model_version else {}),
            },
        },
        "spec": spec,
    }
