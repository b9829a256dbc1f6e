"""Writes behave as on a real API server: metadata bookkeeping, status codes, optimistic concurrency."""

from __future__ import annotations

import pytest
from kubernetes import client
from tests.integration.apiserver.conftest import configmap, made_by_the_test


def status_of(call) -> int:
    with pytest.raises(client.ApiException) as caught:
        call()
    return int(caught.value.status)


def test_create_sets_uid_resource_version_timestamp_and_answers_201(api_client, namespace):
    _, code, _ = client.CoreV1Api(api_client).create_namespaced_config_map_with_http_info(
        namespace, configmap("a", x="1")
    )
    created = client.CoreV1Api(api_client).read_namespaced_config_map("a", namespace)
    assert code == 201
    assert created.metadata.uid and created.metadata.resource_version.isdigit()
    assert created.metadata.creation_timestamp is not None
    assert created.metadata.namespace == namespace  # from the URL, not the body


def test_generate_name_makes_a_unique_name(core, namespace):
    body = {"metadata": {"generateName": "job-"}, "data": {}}
    first = core.create_namespaced_config_map(namespace, body)
    second = core.create_namespaced_config_map(namespace, body)
    assert first.metadata.name.startswith("job-") and len(first.metadata.name) == len("job-") + 5
    assert first.metadata.name != second.metadata.name


def test_creating_an_existing_name_is_409_already_exists(core, namespace):
    core.create_namespaced_config_map(namespace, configmap("dup"))
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_config_map(namespace, configmap("dup"))
    assert caught.value.status == 409 and "AlreadyExists" in caught.value.body


def test_a_namespace_in_the_body_that_contradicts_the_url_is_400(core, namespace):
    body = {"metadata": {"name": "x", "namespace": "elsewhere"}}
    assert status_of(lambda: core.create_namespaced_config_map(namespace, body)) == 400


def test_a_stale_resource_version_is_rejected_with_409_on_put_and_patch(core, namespace):
    created = core.create_namespaced_config_map(namespace, configmap("cas", v="1"))
    stale = created.metadata.resource_version
    core.patch_namespaced_config_map("cas", namespace, {"data": {"v": "2"}})
    replace = {"metadata": {"name": "cas", "resourceVersion": stale}, "data": {"v": "3"}}
    assert status_of(lambda: core.replace_namespaced_config_map("cas", namespace, replace)) == 409
    patch = {"metadata": {"resourceVersion": stale}, "data": {"v": "4"}}
    assert status_of(lambda: core.patch_namespaced_config_map("cas", namespace, patch)) == 409
    assert core.read_namespaced_config_map("cas", namespace).data == {"v": "2"}


def test_put_replaces_the_whole_object(core, namespace):
    core.create_namespaced_config_map(namespace, configmap("put", a="1", b="2"))
    core.replace_namespaced_config_map("put", namespace, {"metadata": {"name": "put"}, "data": {"c": "3"}})
    assert core.read_namespaced_config_map("put", namespace).data == {"c": "3"}


def test_a_failed_json_patch_test_is_422_and_changes_nothing(core, namespace):
    core.create_namespaced_config_map(namespace, configmap("jp", v="1"))
    ops = [
        {"op": "test", "path": "/data/v", "value": "wrong"},
        {"op": "replace", "path": "/data/v", "value": "9"},
    ]
    # A list body is sent as application/json-patch+json by the client.
    assert status_of(lambda: core.patch_namespaced_config_map("jp", namespace, ops)) == 422
    assert core.read_namespaced_config_map("jp", namespace).data == {"v": "1"}
    ops[0]["value"] = "1"
    core.patch_namespaced_config_map("jp", namespace, ops)
    assert core.read_namespaced_config_map("jp", namespace).data == {"v": "9"}


def test_deletecollection_removes_only_what_the_selector_names(core, namespace):
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        core.create_namespaced_config_map(namespace, configmap(name, {"tier": tier}))
    core.delete_collection_namespaced_config_map(namespace, label_selector="tier=web")
    assert made_by_the_test(core.list_namespaced_config_map(namespace).items) == ["c"]


def test_dry_run_validates_without_storing(core, namespace):
    core.create_namespaced_config_map(namespace, configmap("ghost"), dry_run="All")
    assert status_of(lambda: core.read_namespaced_config_map("ghost", namespace)) == 404


def test_strategic_merge_patch_merges_containers_by_name(api_client, namespace):
    apps = client.AppsV1Api(api_client)
    containers = [{"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "proxy:1"}]
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "d"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": containers}},
            },
        },
    )
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}
    # The typed client sends a dict body to a built-in kind as a strategic merge patch.
    apps.patch_namespaced_deployment("d", namespace, patch)
    images = {
        c.name: c.image for c in apps.read_namespaced_deployment("d", namespace).spec.template.spec.containers
    }
    assert images == {"app": "app:2", "sidecar": "proxy:1"}


def test_server_side_apply_creates_then_owns_the_fields_each_manager_applied(api_client, core, namespace):
    def apply(manager: str, body: dict) -> None:
        params = api_client.param_serialize(
            "PATCH",
            f"/api/v1/namespaces/{namespace}/configmaps/ssa",
            query_params=[("fieldManager", manager), ("force", "true")],
            header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
            body=body,
        )
        response = api_client.call_api(*params)
        response.read()
        assert response.status in (200, 201), response.data

    def configmap_with(**data: str) -> dict:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": data}

    apply("first", configmap_with(a="1"))
    apply("first", configmap_with(b="2"))
    # A field its manager applied before and leaves out now is removed...
    assert core.read_namespaced_config_map("ssa", namespace).data == {"b": "2"}
    apply("second", configmap_with(c="3"))
    # ...but what another manager applied stays.
    assert core.read_namespaced_config_map("ssa", namespace).data == {"b": "2", "c": "3"}
