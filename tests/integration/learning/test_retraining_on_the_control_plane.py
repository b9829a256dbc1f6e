"""Continuous learning on the local control plane: new outcomes make the next version (parent in
lineage, history limit kept), and a promoted version that does worse live is demoted."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client
from tests.support import eventually
from tests.support.learning import (
    GROUP,
    VERSION,
    condition,
    context_history,
    model_version,
    settled,
)

from naksha.controllers.modelversion import aliases, archive
from naksha.domain.learning.outcomes import rfc3339
from naksha.kube import Kube

WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # the trainers run as processes


def fresh_outcomes(count: int, prefix: str, **fields: Any) -> list[dict[str, Any]]:
    now = time.time() + 2  # after the training that read the archive
    return [
        {
            "run": f"live/{prefix}-{i}",
            "finishedAt": rfc3339(now + i),
            "detector": "errors",
            "targetKind": "Deployment",
            "playbook": "rollback",
            "resolved": True,
            **fields,
        }
        for i in range(count)
    ]


def versions(custom: client.CustomObjectsApi, namespace: str) -> dict[str, dict[str, Any]]:
    items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "modelversions")["items"]
    return {item["metadata"]["name"]: item for item in items}


def test_new_outcomes_make_the_next_version_with_its_parent_and_the_history_stays_bounded(
    naksha_operator: int, api_client: client.ApiClient, fresh_namespace: str
) -> None:
    kube, custom = Kube(api_client), client.CustomObjectsApi(api_client)
    archive.rewrite(kube, fresh_namespace, lambda _: context_history(800))
    body = model_version("ranker-v1", retrain={"minNewOutcomes": 5, "historyLimit": 2})
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "modelversions", body)
    settled(custom, fresh_namespace, "ranker-v1", "Promoted")
    assert "ranker-v2" not in versions(custom, fresh_namespace)  # nothing new yet

    for record in fresh_outcomes(5, "a"):
        archive.append(kube, fresh_namespace, record)
    second = eventually(lambda: versions(custom, fresh_namespace)["ranker-v2"], timeout=60)
    assert second["spec"]["parent"] == "ranker-v1"
    assert second["metadata"]["annotations"]["naksha.io/model-generation"] == "2"
    assert "5 new outcomes" in second["metadata"]["annotations"]["naksha.io/retrain-reason"]
    status = eventually(lambda: status_with_verdict(custom, fresh_namespace, "ranker-v2"), timeout=120)
    assert status["lineage"]["parent"] == "ranker-v1" and status["lineage"]["samples"] == 805
    assert status_of_v1(custom, fresh_namespace)["retrainedAs"] == "ranker-v2"

    for record in fresh_outcomes(5, "b"):
        archive.append(kube, fresh_namespace, record)
    eventually(lambda: "ranker-v3" in versions(custom, fresh_namespace), timeout=120)
    holder = aliases.read_aliases(kube, fresh_namespace, "ranker")["production"].holder.version

    def bounded() -> set[str]:
        names = set(versions(custom, fresh_namespace))
        assert len(names) == 2, names
        return names

    kept = eventually(bounded, timeout=60)
    assert holder in kept and "ranker-v3" in kept  # the oldest non-holder went


def status_with_verdict(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "modelversions", name)
    status = dict(body.get("status") or {})
    assert status.get("verdict"), status
    return status


def status_of_v1(custom: client.CustomObjectsApi, namespace: str) -> dict[str, Any]:
    return dict(
        custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "modelversions", "ranker-v1")["status"]
    )


def test_a_promoted_version_that_resolves_less_live_than_its_predecessor_is_demoted(
    naksha_operator: int, api_client: client.ApiClient, fresh_namespace: str
) -> None:
    kube, custom = Kube(api_client), client.CustomObjectsApi(api_client)
    archive.rewrite(kube, fresh_namespace, lambda _: context_history(800))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "modelversions", model_version("ranker-v1")
    )
    settled(custom, fresh_namespace, "ranker-v1", "Promoted")
    body = model_version(
        "ranker-v2", promotion={"requireImprovement": False, "autoDemote": {"minUses": 10, "margin": 0.2}}
    )
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "modelversions", body)
    settled(custom, fresh_namespace, "ranker-v2", "Promoted")

    # Runs chosen by each version, as the AgentRun consumer records them: v2 resolves 3 of 12,
    # v1 resolved 11 of 12.
    # One write, so the operator never judges a part of them (it would demote at 3/10 already).
    live = [
        {**record, "resolved": i != 0}
        for i, record in enumerate(fresh_outcomes(12, "v1", modelVersion="ranker-v1"))
    ] + [
        {**record, "resolved": i < 3}
        for i, record in enumerate(fresh_outcomes(12, "v2", modelVersion="ranker-v2"))
    ]
    assert archive.rewrite(kube, fresh_namespace, lambda records: [*records, *live])

    demoted = settled(custom, fresh_namespace, "ranker-v2", "Evaluated")
    assert condition(demoted, "Promoted")["reason"] == "Demoted"
    assert "3/12" in condition(demoted, "Promoted")["message"]
    assert aliases.read_aliases(kube, fresh_namespace, "ranker")["production"].holder.version == "ranker-v1"
    settled(custom, fresh_namespace, "ranker-v1", "Promoted")
    time.sleep(2 * 3.0)  # two more looks by the operator: the demotion keeps its reason
    assert (
        condition(status_with_verdict(custom, fresh_namespace, "ranker-v2"), "Promoted")["reason"]
        == "Demoted"
    )
