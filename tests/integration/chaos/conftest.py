"""Fixtures of the ChaosExperiment tests: namespaces opted in to chaos, and not."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from tests.support.chaos import GROUP, PLURAL, VERSION


@pytest.fixture
def chaos_namespace(api_client: client.ApiClient) -> Iterator[str]:
    """A namespace labelled ``naksha.io/chaos=enabled``."""
    yield from _namespace(api_client, {"naksha.io/chaos": "enabled"})


@pytest.fixture
def plain_namespace(api_client: client.ApiClient) -> Iterator[str]:
    """A namespace that did not opt in to chaos."""
    yield from _namespace(api_client, {})


def _namespace(api_client: client.ApiClient, labels: dict[str, str]) -> Iterator[str]:
    name = f"c-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels)))
    yield name
    custom = client.CustomObjectsApi(api_client)
    for item in custom.list_namespaced_custom_object(GROUP, VERSION, name, PLURAL)["items"]:
        # An experiment the test deleted may finish going (its finalizer restoring the fault)
        # between the list and this delete: gone is what teardown wants.
        try:
            custom.delete_namespaced_custom_object(GROUP, VERSION, name, PLURAL, item["metadata"]["name"])
        except ApiException as error:
            if error.status != 404:
                raise
    core.delete_namespace(name)
