"""The operator keeps an InsightStream's workers in line with its spec: roll on change, gone on delete.

Worker pods run a simulated image here (the fixture's default), so only the operator's and the
kubelet's behaviour is under test.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from tests.support import eventually

GROUP, VERSION = "naksha.io", "v1alpha1"
SPEC = {
    "source": {"type": "http", "http": {"port": 18123}},
    "detectors": [
        {"name": "cpu", "metric": "cpu", "method": "threshold", "params": {"threshold": {"above": 0.9}}}
    ],
    "replicas": 2,
}


def test_spec_changes_roll_the_workers_and_deleting_the_stream_removes_them(
    naksha_operator, api_client, fresh_namespace
):
    custom, apps, core = (
        client.CustomObjectsApi(api_client),
        client.AppsV1Api(api_client),
        client.CoreV1Api(api_client),
    )
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InsightStream",
        "metadata": {"name": "cpu"},
        "spec": SPEC,
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "insightstreams", body)

    def stream() -> dict[str, Any]:
        return dict(
            custom.get_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "insightstreams", "cpu")
        )

    eventually(
        lambda: stream()["status"]["phase"] == "Running" and stream()["status"]["readyReplicas"] == 2,
        timeout=30,
    )
    service = core.read_namespaced_service("cpu-insight", fresh_namespace)
    assert service.spec.ports[0].port == 18123
    # The workers run as the stream's own account, allowed only what they call.
    rbac = client.RbacAuthorizationV1Api(api_client)
    deployment = apps.read_namespaced_deployment("cpu-insight", fresh_namespace)
    assert deployment.spec.template.spec.service_account_name == "cpu-insight"
    assert core.read_namespaced_service_account("cpu-insight", fresh_namespace).metadata.owner_references
    role = rbac.read_namespaced_role("cpu-insight", fresh_namespace)
    assert [(r.resources, r.resource_names) for r in role.rules] == [
        (["insightstreams/status"], ["cpu"]),
        (["insightstreams"], ["cpu"]),
        (["configmaps"], ["cpu-insight-state", *(f"cpu-insight-state-{i}" for i in range(1, 33))]),
        (["configmaps"], None),
        (["agentruns"], None),
    ]
    binding = rbac.read_namespaced_role_binding("cpu-insight", fresh_namespace)
    assert [(s.kind, s.name) for s in binding.subjects] == [("ServiceAccount", "cpu-insight")]
    before = {p.metadata.name for p in core.list_namespaced_pod(fresh_namespace).items}
    assert len(before) == 2

    detectors = [{**SPEC["detectors"][0], "params": {"threshold": {"above": 0.8}}}]
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        fresh_namespace,
        "insightstreams",
        "cpu",
        {"spec": {"detectors": detectors, "replicas": 3}},
    )

    def rolled() -> bool:
        pods = {p.metadata.name for p in core.list_namespaced_pod(fresh_namespace).items}
        return len(pods) == 3 and not pods & before

    eventually(rolled, timeout=30)
    eventually(
        lambda: stream()["status"]["observedGeneration"] == 2 and stream()["status"]["readyReplicas"] == 3
    )

    custom.delete_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "insightstreams", "cpu")
    eventually(lambda: not apps.list_namespaced_deployment(fresh_namespace).items, timeout=30)
    eventually(lambda: not core.list_namespaced_pod(fresh_namespace).items, timeout=30)
    assert not core.list_namespaced_service(fresh_namespace).items
    eventually(lambda: not rbac.list_namespaced_role_binding(fresh_namespace).items)
    assert not rbac.list_namespaced_role(fresh_namespace).items
