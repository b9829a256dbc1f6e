"""Fixtures of the emulator's contract tests: a typed client and a namespace per test."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client


@pytest.fixture
def namespace(fresh_namespace: str) -> str:
    return fresh_namespace


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


# Kubernetes' root CA publisher puts this ConfigMap into every namespace (the emulator has no
# CA to publish): the contract tests look at the ConfigMaps they made themselves.
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"


def made_by_the_test(items: list[Any]) -> list[str]:
    """Names of the listed objects (typed client models or names), the root CA's left out."""
    names = [item if isinstance(item, str) else item.metadata.name for item in items]
    return [name for name in names if name != ROOT_CA_CONFIGMAP]


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}
