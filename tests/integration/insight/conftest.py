"""Fixtures shared by the insight integration tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config
from tests.support.brokers import create_topics

from naksha.kube import Kube


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


@pytest.fixture
def kube(control_plane) -> Kube:
    return Kube(config.new_client_from_config(config_file=str(control_plane.kubeconfig_path)))


@pytest.fixture
def svc_stream_namespace(api_client, naksha_crds) -> Iterator[str]:
    """A namespace holding an InsightStream ``svc``: what a stream's state ConfigMaps belong to."""
    name = f"cs-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "naksha.io",
        "v1alpha1",
        name,
        "insightstreams",
        {
            "apiVersion": "naksha.io/v1alpha1",
            "kind": "InsightStream",
            "metadata": {"name": "svc"},
            "spec": {"source": {"type": "http"}},
        },
    )
    yield name
    client.CoreV1Api(api_client).delete_namespace(name)
