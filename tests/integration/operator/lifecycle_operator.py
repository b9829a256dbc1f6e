"""A small kopf operator used to prove the local control plane runs a full kopf lifecycle.

It lives in its own registry so it never mixes with Naksha's handlers in the test process.
A ``Widget`` creates a Job (adopted, so garbage-collected with its owner) running
``naksha --version`` through the local kubelet, mirrors the Job's outcome into its status from
a timer, reacts to spec updates, and cleans up in a finalizer-guarded delete handler.
"""

from __future__ import annotations

from typing import Any

import kopf

GROUP, VERSION, PLURAL = "lifecycle.naksha.io", "v1", "widgets"
registry = kopf.OperatorRegistry()
deleted: list[str] = []

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": PLURAL, "singular": "widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer", "minimum": 1, "default": 1}},
                            },
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


def job_for(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{name}-job"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "main", "image": "naksha:test", "command": ["naksha", "--version"]}
                    ],
                }
            },
        },
    }


@kopf.on.login(registry=registry)
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    # A registry of its own starts without kopf's default login handlers.
    return kopf.login_via_client(**kwargs)


@kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
def create_job(name: str, namespace: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
    from kubernetes import client, config

    job = job_for(name)
    kopf.adopt(job, owner=body)
    config.load_kube_config()
    client.BatchV1Api().create_namespaced_job(namespace, job)
    kopf.info(body, reason="JobCreated", message=f"created {job['metadata']['name']}")
    return {"job": job["metadata"]["name"]}


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec.size", registry=registry)
def resize(new: int, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    patch.status["size"] = new
    patch.status["observedGeneration"] = body.metadata.get("generation")


@kopf.timer(GROUP, VERSION, PLURAL, interval=0.5, registry=registry)
def mirror_job(name: str, namespace: str, patch: kopf.Patch, status: kopf.Status, **_: Any) -> None:
    from kubernetes import client, config

    if status.get("jobSucceeded"):
        return
    config.load_kube_config()
    try:
        job = client.BatchV1Api().read_namespaced_job(f"{name}-job", namespace)
    except client.ApiException as error:
        if error.status == 404:  # the create handler has not made it yet: look again next tick
            return
        raise
    if job.status and job.status.succeeded:
        patch.status["jobSucceeded"] = True


@kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
def cleanup(name: str, body: kopf.Body, **_: Any) -> None:
    deleted.append(name)
