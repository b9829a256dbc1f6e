"""The rate window on a target counts each action once, under the action's idempotency key.

``guardrails.before_action`` is called directly against the local control plane, as the engine
calls it before an action's plan is checkpointed: a replay of that call (the operator killed in
between) must not add a second entry to ``naksha.io/agent-actions``.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from kubernetes import client
from tests.support.agentruns import deployment

from naksha.controllers.agentrun import guardrails
from naksha.kube import Kube
from naksha.models.common import ObjectTarget
from naksha.models.labels import RECENT_ACTIONS
from naksha.models.resources import DEPLOYMENTS
from naksha.settings import OperatorSettings

TARGET = ObjectTarget.model_validate({"kind": "Deployment", "name": "web"})
NOW = 1_800_000_000.0


@pytest.fixture
def kube(api_client: client.ApiClient, fresh_namespace: str) -> Kube:
    client.AppsV1Api(api_client).create_namespaced_deployment(fresh_namespace, deployment("web"))
    return Kube(api_client)


def settings(limit: int) -> OperatorSettings:
    return dataclasses.replace(OperatorSettings.from_env({}), agent_rate_limit=limit, agent_rate_window=600)


def act(kube: Kube, namespace: str, run: str, key: str, *, limit: int = 2, at: float = NOW) -> None:
    guardrails.before_action(
        kube, settings(limit), namespace, run, TARGET, lambda: at, dry_run=False, key=key
    )


def window(kube: Kube, namespace: str) -> dict[str, float]:
    annotations = kube.get(DEPLOYMENTS, namespace, "web")["metadata"]["annotations"]
    return dict(json.loads(annotations[RECENT_ACTIONS]))


def test_a_replayed_action_is_counted_once(kube, fresh_namespace):
    act(kube, fresh_namespace, "r1", "key-a")
    act(kube, fresh_namespace, "r1", "key-a", at=NOW + 5)  # the same action after a restart
    assert window(kube, fresh_namespace) == {"key-a": NOW}


def test_a_replay_at_the_limit_is_not_refused_but_a_new_action_is(kube, fresh_namespace):
    act(kube, fresh_namespace, "r1", "key-a")
    act(kube, fresh_namespace, "r1", "key-b", at=NOW + 1)
    act(kube, fresh_namespace, "r1", "key-b", at=NOW + 2)  # replayed at the limit: already counted
    with pytest.raises(guardrails.Refusal, match=r"had 2 actions in the last 600s \(limit 2\)") as refused:
        act(kube, fresh_namespace, "r1", "key-c", at=NOW + 3)
    assert refused.value.reason == "RateLimited"
    assert window(kube, fresh_namespace) == {"key-a": NOW, "key-b": NOW + 1}


def test_actions_older_than_the_window_drop_out(kube, fresh_namespace):
    act(kube, fresh_namespace, "r1", "key-a")
    act(kube, fresh_namespace, "r1", "key-b", at=NOW + 601, limit=1)
    assert window(kube, fresh_namespace) == {"key-b": NOW + 601}


def test_timestamps_written_before_keys_existed_still_count(kube, fresh_namespace):
    kube.merge_patch(
        DEPLOYMENTS,
        fresh_namespace,
        "web",
        {"metadata": {"annotations": {RECENT_ACTIONS: json.dumps([NOW - 10, NOW - 5])}}},
    )
    with pytest.raises(guardrails.Refusal, match="had 2 actions"):
        act(kube, fresh_namespace, "r1", "key-a")
    act(kube, fresh_namespace, "r1", "key-a", limit=3)
    assert window(kube, fresh_namespace) == {"earlier-0": NOW - 10, "earlier-1": NOW - 5, "key-a": NOW}
