"""Naksha's errors meet kopf's only at the handler edge: a retryable error retries after its delay."""

from __future__ import annotations

from typing import Any

import kopf
import pytest

from naksha.errors import ConfigError, NakshaError, PermanentError, RetryableError
from naksha.handlers.common import kopf_errors, write_result
from naksha.models.kinds import EDGE_NODE
from naksha.reconcilers.context import ReconcileContext


def edge_node() -> dict[str, Any]:
    return {"metadata": {"name": "edge-1", "namespace": "fleet", "uid": "u1", "generation": 1}, "spec": {}}


def run(reconciler: Any) -> None:
    body = kopf.Body(edge_node())
    patch = kopf.Patch()
    write_result(body, patch, reconciler, ReconcileContext.from_body(EDGE_NODE, edge_node()), count=False)


def test_naksha_errors_are_not_kopf_errors() -> None:
    assert not issubclass(RetryableError, kopf.TemporaryError)
    assert not issubclass(PermanentError, kopf.PermanentError)
    assert issubclass(RetryableError, NakshaError) and issubclass(PermanentError, NakshaError)


def test_a_retryable_error_in_a_reconciler_becomes_a_temporary_error_with_its_delay() -> None:
    def reconciler(context: ReconcileContext) -> ReconcileContext:
        raise RetryableError("the Kubernetes API is unreachable", delay=3.5)

    with pytest.raises(kopf.TemporaryError) as raised:
        run(reconciler)
    assert raised.value.delay == 3.5
    assert "unreachable" in str(raised.value)
    assert isinstance(raised.value.__cause__, RetryableError)


def test_a_permanent_error_stops_kopf_retrying() -> None:
    with pytest.raises(kopf.PermanentError, match="cannot be fixed by retrying"), kopf_errors():
        raise PermanentError("cannot be fixed by retrying")


def test_a_reconciler_asking_for_a_retry_gets_it_after_its_delay() -> None:
    def reconciler(context: ReconcileContext) -> ReconcileContext:
        context.retry_after = 7.0
        return context

    with pytest.raises(kopf.TemporaryError) as raised:
        run(reconciler)
    assert raised.value.delay == 7.0


def test_other_errors_pass_through_unchanged() -> None:
    with pytest.raises(ConfigError), kopf_errors():
        raise ConfigError("NAKSHA_LOG_LEVEL='loud' is not a log level")
