"""Fixtures shared by the insight integration tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client
from tests.support.brokers import create_topics


@pytest.fixture
def stream_namespace(api_client, naksha_crds) -> Iterator[str]:
    name = f"iw-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    yield name
    client.CoreV1Api(api_client).delete_namespace(name)


@pytest.fixture
def topic(kafka_broker) -> str:
    name = f"telemetry-{uuid.uuid4().hex[:6]}"
    # Created up front so that the worker's group is assigned partitions when it joins, and the
    # dead-letter producer finds its topic.
    asyncio.run(create_topics(kafka_broker, name, f"{name}.dlq"))
    return name
