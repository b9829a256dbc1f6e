"""The local control plane runs a complete kopf lifecycle, as a real cluster would.

create → Job adopted with an ownerReference → the kubelet runs it → a timer mirrors its
outcome into status; update bumps generation; delete runs the finalizer-guarded handler,
the object goes, and the Job is garbage-collected with it; Events are posted throughout.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from kopf.testing import KopfRunner
from kubernetes import client
from tests.integration.operator import lifecycle_operator as widgets
from tests.support import eventually, free_port


@pytest.fixture(scope="module")
def widget_operator(control_plane: Any, api_client: client.ApiClient) -> Iterator[KopfRunner]:
    extensions = client.ApiextensionsV1Api(api_client)
    try:
        extensions.create_custom_resource_definition(widgets.CRD)
    except client.ApiException as error:
        if error.status != 409:
            raise
    # kopf looks for the resources it serves once at its start: on a real API server (a busy one
    # especially) a just-created CRD can take seconds to be served, and kopf would skip widgets.
    custom = client.CustomObjectsApi(api_client)
    eventually(
        lambda: custom.list_cluster_custom_object(widgets.GROUP, widgets.VERSION, widgets.PLURAL), timeout=60
    )
    os.environ["KUBECONFIG"] = str(control_plane.kubeconfig_path)
    args = ["run", "--standalone", "--all-namespaces", f"--liveness=http://127.0.0.1:{free_port()}/healthz"]
    # kopf's CLI makes the registry it runs the process-wide default: put Naksha's back afterwards.
    default = kopf.get_default_registry()
    try:
        with KopfRunner(args, registry=widgets.registry) as runner:
            yield runner
    finally:
        kopf.set_default_registry(default)
    assert runner.exception is None, runner.output


def test_a_widget_goes_through_its_whole_lifecycle(widget_operator, api_client, fresh_namespace, backend):
    custom = client.CustomObjectsApi(api_client)
    batch = client.BatchV1Api(api_client)
    core = client.CoreV1Api(api_client)
    ns, name = fresh_namespace, "w1"

    def get() -> dict[str, Any]:
        return dict(
            custom.get_namespaced_custom_object(widgets.GROUP, widgets.VERSION, ns, widgets.PLURAL, name)
        )

    body = {"apiVersion": f"{widgets.GROUP}/{widgets.VERSION}", "kind": "Widget", "metadata": {"name": name}}
    custom.create_namespaced_custom_object(
        widgets.GROUP, widgets.VERSION, ns, widgets.PLURAL, {**body, "spec": {}}
    )
    created = get()
    assert created["spec"] == {"size": 1}  # the schema default was applied by the server
    assert created["metadata"]["generation"] == 1

    # The Job is owned by the widget and the kubelet runs it to completion.
    job = eventually(lambda: batch.read_namespaced_job("w1-job", ns), timeout=60 if backend == "real" else 20)
    owner = job.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid) == ("Widget", name, created["metadata"]["uid"])
    eventually(lambda: get().get("status", {}).get("jobSucceeded"), timeout=30)
    assert get()["status"]["create_job"] == {"job": "w1-job"}

    # kopf put its finalizer on the widget, because the delete handler is not optional.
    assert "kopf.zalando.org/KopfFinalizerMarker" in get()["metadata"]["finalizers"]

    # An update bumps the generation and the update handler sees it.
    custom.patch_namespaced_custom_object(
        widgets.GROUP, widgets.VERSION, ns, widgets.PLURAL, name, {"spec": {"size": 3}}
    )
    eventually(lambda: get()["status"].get("observedGeneration") == 2 and get()["status"]["size"] == 3)

    # Events were posted for the object.
    events = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}").items
    assert any(e.reason == "JobCreated" for e in events)

    # Deleting runs the handler, releases the finalizer, and garbage-collects the Job.
    custom.delete_namespaced_custom_object(widgets.GROUP, widgets.VERSION, ns, widgets.PLURAL, name)

    def widget_gone() -> bool:
        try:
            get()
        except client.ApiException as error:
            return error.status == 404
        return False

    eventually(widget_gone)
    assert name in widgets.deleted

    def job_gone() -> bool:
        try:
            batch.read_namespaced_job("w1-job", ns)
        except client.ApiException as error:
            return error.status == 404
        return False

    # A real garbage collector learns a new CRD's kinds from discovery every 30 s, so the
    # dependents of a just-created CRD's objects may take that long to go.
    eventually(job_gone, timeout=60 if backend == "real" else 20)
