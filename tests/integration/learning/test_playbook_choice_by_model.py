"""An AgentRun whose playbookRef names a model: the promoted ranker picks each context's better
playbook, the choice and the version are recorded, and the finished run lands in the archive."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from tests.support import eventually
from tests.support.learning import (
    GROUP,
    PLAYBOOKS,
    RESOLVE,
    VERSION,
    context_history,
    model_version,
    settled,
)

from naksha.controllers.modelversion import archive
from naksha.kube import Kube

WORKER_IMAGE = "ghcr.io/naksha-io/naksha:test"  # the trainer runs as a process


def playbook(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"naksha.io/playbook": "true"}},
        "data": {"playbook.yaml": "start: done\nnodes:\n  - {name: done, type: end}\n"},
    }


def run(name: str, detector: str, model: str = "ranker") -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AgentRun",
        "metadata": {"name": name},
        "spec": {
            "playbookRef": {"model": model, "alias": "production", "candidates": list(PLAYBOOKS)},
            "signal": {"detector": detector, "source": "test"},
            "target": {"kind": "Deployment", "name": "web"},
        },
    }


def finished(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "agentruns", name)
        status = dict(body.get("status") or {})
        assert status.get("phase") == "Succeeded", status
        return status

    return eventually(check, timeout=90, interval=0.5)  # type: ignore[no-any-return]


def test_runs_choose_the_better_playbook_per_context_and_are_archived_with_their_version(
    naksha_operator: int, api_client: client.ApiClient, fresh_namespace: str
) -> None:
    kube = Kube(api_client)
    custom, core, apps = (
        client.CustomObjectsApi(api_client),
        client.CoreV1Api(api_client),
        client.AppsV1Api(api_client),
    )
    records = context_history(1500)
    archive.rewrite(kube, fresh_namespace, lambda _: records)
    for name in PLAYBOOKS:
        core.create_namespaced_config_map(fresh_namespace, playbook(name))
    apps.create_namespaced_deployment(
        fresh_namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "app:1"}]},
                },
            },
        },
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "modelversions", model_version("ranker-v1")
    )
    settled(custom, fresh_namespace, "ranker-v1", "Promoted")

    for detector in RESOLVE:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, fresh_namespace, "agentruns", run(f"r-{detector}", detector)
        )
    # A model nobody promoted: the run is not held up, it takes its first candidate and says why.
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "agentruns", run("r-none", "latency", "unknown")
    )

    for detector, rates in RESOLVE.items():
        choice = finished(custom, fresh_namespace, f"r-{detector}")["state"]["playbookChoice"]
        assert choice["playbook"] == max(rates, key=rates.__getitem__), choice
        assert choice["modelVersion"] == "ranker-v1" and choice["context"] == f"{detector}|Deployment"
        assert choice["propensity"] > 0.5
    fallback = finished(custom, fresh_namespace, "r-none")["state"]["playbookChoice"]
    assert fallback["playbook"] == PLAYBOOKS[0] and "no version holds" in fallback["reason"]

    def archived() -> dict[str, Any]:
        mine = {
            r["run"]: r for r in archive.read_archive(kube, fresh_namespace) if r["run"].endswith("r-errors")
        }
        assert mine, "not archived yet"
        return mine[f"{fresh_namespace}/r-errors"]

    record = eventually(archived, timeout=60)
    assert (record["playbook"], record["modelVersion"], record["detector"]) == (
        "rollback",
        "ranker-v1",
        "errors",
    )
    assert record["acted"] is False  # the test playbooks do nothing: the loop reads that as a false positive
