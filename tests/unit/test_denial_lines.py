"""The least-privilege tests' check of logs: a 401 or an RBAC refusal, not what only looks like one."""

from __future__ import annotations

import pytest
from tests.support.samples import denials


@pytest.mark.parametrize(
    "line",
    [
        '127.0.0.1 "GET /api/v1/pods HTTP/1.1" 401 123 "-"',
        "(401) Reason: Unauthorized",
        "the API answered 401",
        'pods is forbidden: User "system:serviceaccount:x:y" cannot list resource "pods"',
    ],
)
def test_a_refusal_is_found(line):
    assert denials(line) == [line]


@pytest.mark.parametrize(
    "line",
    [
        "2026-11-29 05:20:59,401 INFO aiokafka.consumer.consumer: Subscribed to topic(s)",
        '127.0.0.1 "GET /apis/apps/v1/namespaces/t/deployments/x HTTP/1.1" 404 401 "-"',
    ],
)
def test_a_timestamp_or_a_byte_count_of_401_is_not_a_refusal(line):
    assert denials(line) == []
