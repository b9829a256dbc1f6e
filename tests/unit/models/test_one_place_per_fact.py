"""Each fact is spelled once: resources, ``naksha.io/*`` keys and the timestamp format.

The guards read the package's source: a second spelling of a fact is a bug waiting to diverge.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from naksha.models import labels, resources, timestamps

PACKAGE = Path(__file__).resolve().parents[3] / "operator" / "naksha"
# The local control plane emulates Kubernetes itself and keeps its own vocabulary.
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "local" not in p.relative_to(PACKAGE).parts)


def offending(pattern: str, *allowed: str) -> list[str]:
    found = []
    for path in SOURCES:
        name = str(path.relative_to(PACKAGE))
        if name in allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_resources_are_named_only_in_the_catalogue() -> None:
    assert offending(r"^[A-Z_]+ = resource_for\(", "models/resources.py") == []


def test_label_and_annotation_keys_are_spelled_only_in_labels() -> None:
    assert offending(r'f"\{GROUP\}/[a-z]', "models/labels.py") == []
    # RBAC rule texts name resources of the group ("naksha.io/rollouts: get"), not keys.
    assert offending(r'"naksha\.io/[a-zA-Z-]+"(?!:)', "models/labels.py") == []


def test_the_timestamp_format_is_spelled_only_in_timestamps() -> None:
    assert offending(r"%Y-%m-%dT", "models/timestamps.py") == []


def test_the_two_stream_labels_are_two_names() -> None:
    # One marks a stream's own children, the other the AgentRuns its triggers created.
    assert labels.INSIGHT_STREAM_LABEL == "naksha.io/insightstream"
    assert labels.TRIGGERED_BY_STREAM_LABEL == "naksha.io/stream"
    assert not hasattr(labels, "STREAM_LABEL")


def test_every_key_lives_under_the_group() -> None:
    keys = {name: value for name, value in vars(labels).items() if name.isupper()}
    assert keys and all(value.startswith("naksha.io") for value in keys.values())


def test_named_resources_are_the_ones_resource_for_finds() -> None:
    assert resources.ROLLOUTS is resources.resource_for("naksha.io/v1alpha1", "Rollout")
    assert resources.DEPLOYMENTS is resources.resource_for("apps/v1", "Deployment")
    assert resources.AGENT_RUNS.path("shop", "r1") == "/apis/naksha.io/v1alpha1/namespaces/shop/agentruns/r1"


@pytest.mark.parametrize("moment", [0.0, 1_700_000_000.0, 1_700_000_000.75])
def test_timestamps_round_trip_to_the_second(moment: float) -> None:
    text = timestamps.to_text(moment)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    assert timestamps.to_seconds(text) == int(moment)


def test_event_times_keep_microseconds() -> None:
    assert timestamps.to_micro_text(1_700_000_000.25) == "2023-11-14T22:13:20.250000Z"
    assert timestamps.to_seconds("2023-11-14T22:13:20.250000Z") == 1_700_000_000.25
