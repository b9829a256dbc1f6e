"""Objects live and die as on a real cluster: status subresources, generation, finalizers, owners."""

from __future__ import annotations

import pytest
from kubernetes import client
from tests.integration.apiserver.conftest import configmap, made_by_the_test
from tests.support import eventually

GROUP, VERSION, PLURAL = "naksha.io", "v1alpha1", "edgenodes"


@pytest.fixture
def custom(api_client, naksha_crds) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


def edge(name: str) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EdgeNode",
        "metadata": {"name": name},
        "spec": {"identity": {"nodeId": name}},
    }


def get(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict:
    return dict(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))


def test_the_main_resource_ignores_status_and_the_status_subresource_ignores_spec(custom, namespace):
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, edge("e1"))
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "e1",
        {"status": {"phase": "Hacked"}, "spec": {"capabilities": ["gpu"]}},
    )
    after_main = get(custom, namespace, "e1")
    assert "phase" not in after_main.get("status", {})
    assert after_main["spec"]["capabilities"] == ["gpu"]
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "e1", {"status": {"phase": "Ready"}, "spec": {"capabilities": []}}
    )
    after_status = get(custom, namespace, "e1")
    assert after_status["status"]["phase"] == "Ready"
    assert after_status["spec"]["capabilities"] == ["gpu"]


def test_a_status_sent_with_a_create_is_dropped_when_the_kind_has_a_status_subresource(
    custom, core, namespace
):
    body = {**edge("e0"), "status": {"phase": "Forged"}}
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    assert "phase" not in (created.get("status") or {})
    assert "phase" not in (get(custom, namespace, "e0").get("status") or {})
    pod = {
        "metadata": {"name": "p0"},
        "spec": {"containers": [{"name": "c", "image": "example.com/idle:1"}]},
        "status": {"phase": "Succeeded"},
    }
    # A pod created right after its namespace may be refused until the ServiceAccount
    # controller made `default` there (403 on a real server).
    created_pod = eventually(lambda: core.create_namespaced_pod(namespace, pod))
    assert created_pod.status.phase == "Pending"


def test_generation_moves_with_the_spec_only(custom, namespace):
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, edge("e2"))
    assert get(custom, namespace, "e2")["metadata"]["generation"] == 1
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "e2", {"status": {"phase": "X"}}
    )
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "e2", {"metadata": {"labels": {"a": "b"}}}
    )
    assert get(custom, namespace, "e2")["metadata"]["generation"] == 1
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "e2", {"spec": {"capabilities": ["x"]}}
    )
    assert get(custom, namespace, "e2")["metadata"]["generation"] == 2


def test_a_finalizer_holds_the_object_until_it_is_removed(core, namespace):
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}, "data": {}}
    )
    core.delete_namespaced_config_map("held", namespace)
    held = core.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": None}})
    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_config_map("held", namespace)
    assert caught.value.status == 404


def test_dependents_are_garbage_collected_with_their_owner(core, namespace):
    owner = core.create_namespaced_config_map(namespace, configmap("owner"))
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    for name in ("child-1", "child-2"):
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": name, "ownerReferences": [reference]}, "data": {}}
        )
    core.delete_namespaced_config_map("owner", namespace)
    eventually(
        lambda: not made_by_the_test(core.list_namespaced_config_map(namespace).items),
        timeout=60,  # a real garbage collector may take a few seconds more
    )


def test_orphan_propagation_keeps_the_dependents(core, namespace):
    owner = core.create_namespaced_config_map(namespace, configmap("owner"))
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "kept", "ownerReferences": [reference]}}
    )
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Orphan")
    # A real API server leaves the orphaning to the garbage collector (the owner waits behind the
    # ``orphan`` finalizer until its dependents are freed), so the reference goes away shortly after.
    eventually(
        lambda: not core.read_namespaced_config_map("kept", namespace).metadata.owner_references,
        timeout=60,
    )
    assert core.read_namespaced_config_map("kept", namespace).metadata.name == "kept"


def test_deleting_a_namespace_removes_its_objects(core):
    core.create_namespace({"metadata": {"name": "doomed-ns"}})
    core.create_namespaced_config_map("doomed-ns", configmap("x"))
    core.delete_namespace("doomed-ns")
    eventually(
        lambda: (
            not core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=doomed-ns").items
        )
    )

    def namespace_gone() -> bool:
        # A real server keeps it Terminating while its namespace controller empties it.
        try:
            core.read_namespace("doomed-ns")
        except client.ApiException as error:
            return error.status == 404
        return False

    eventually(namespace_gone, timeout=60)
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_config_map("doomed-ns", configmap("late"))
    assert caught.value.status == 404
