"""Fixtures shared by the insight integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client


@pytest.fixture
def stream_namespace(api_client, naksha_crds) -> Iterator[str]:
    name = f"iw-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    yield name
    client.CoreV1Api(api_client).delete_namespace(name)
