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


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}
