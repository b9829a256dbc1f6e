"""Every kind's reconciler has the same shape: ``STEPS``, an ordered tuple of steps over the context.

And each typed status model is the one its kind's CRD is generated from, with every reason a
``Reason`` member.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import naksha.reconcilers
from naksha.models.agentrun import AgentRunStatus
from naksha.models.conditions import Reason
from naksha.models.insightstream import InsightStreamStatus
from naksha.models.kinds import AGENT_RUN, INSIGHT_STREAM, MODEL_VERSION, ROLLOUT
from naksha.models.modelversion import ModelVersionStatus
from naksha.models.rollout import RolloutStatus
from naksha.models.status import NakshaStatus

KIND_MODULES = sorted(
    name
    for _, name, _ in pkgutil.iter_modules(naksha.reconcilers.__path__)
    if name not in ("context", "admission")
)


def test_the_typed_kinds_each_have_a_reconciler_module():
    assert {"agentrun", "insightstream", "modelversion", "rollout"} <= set(KIND_MODULES)


@pytest.mark.parametrize("name", KIND_MODULES)
def test_each_reconciler_is_a_tuple_of_steps_taking_the_context(name):
    module = importlib.import_module(f"naksha.reconcilers.{name}")
    assert isinstance(module.STEPS, tuple) and module.STEPS
    for step in module.STEPS:
        assert callable(step)
        assert list(inspect.signature(step).parameters) == ["context"], step


@pytest.mark.parametrize(
    ("kind", "model"),
    [
        (ROLLOUT, RolloutStatus),
        (AGENT_RUN, AgentRunStatus),
        (INSIGHT_STREAM, InsightStreamStatus),
        (MODEL_VERSION, ModelVersionStatus),
    ],
    ids=lambda k: getattr(k, "kind", ""),
)
def test_typed_kinds_generate_their_status_schema_from_their_model(kind, model):
    assert kind.status_model is model and issubclass(model, NakshaStatus)


def test_reasons_are_unique_camel_case_words():
    values = [reason.value for reason in Reason]
    assert len(values) == len(set(values))
    assert all(value[0].isupper() and value.isalnum() for value in values)
