"""Lists select and paginate like the API server: label and field selectors, limit and continue."""

from __future__ import annotations

import pytest
from kubernetes import client
from tests.integration.apiserver.conftest import configmap, made_by_the_test


@pytest.fixture
def fleet(core, namespace) -> str:
    for name, labels in {
        "a": {"tier": "web", "env": "prod"},
        "b": {"tier": "web", "env": "dev"},
        "c": {"tier": "db", "env": "prod"},
        "d": {"tier": "cache"},
    }.items():
        core.create_namespaced_config_map(namespace, configmap(name, labels))
    return namespace


def names(core: client.CoreV1Api, namespace: str, **query: object) -> list[str]:
    return sorted(made_by_the_test(core.list_namespaced_config_map(namespace, **query).items))


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", ["a", "b"]),
        ("tier==web,env=prod", ["a"]),
        ("tier!=web", ["c", "d"]),
        ("tier in (db,cache)", ["c", "d"]),
        ("env notin (dev)", ["a", "c", "d"]),
        ("env", ["a", "b", "c"]),
        ("!env", ["d"]),
    ],
)
def test_label_selectors_select_as_kubernetes_does(core, fleet, selector, expected):
    assert names(core, fleet, label_selector=selector) == expected


def test_field_selectors_select_by_name_and_namespace(core, fleet):
    assert names(core, fleet, field_selector="metadata.name=c") == ["c"]
    assert names(core, fleet, field_selector="metadata.name!=c") == ["a", "b", "d"]
    everywhere = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={fleet}").items
    assert sorted(made_by_the_test(everywhere)) == ["a", "b", "c", "d"]


def test_a_malformed_selector_is_400(core, fleet):
    with pytest.raises(client.ApiException) as caught:
        core.list_namespaced_config_map(fleet, label_selector="tier in web")
    assert caught.value.status == 400


def test_pages_follow_the_continue_token_to_the_end(core, fleet):
    seen, token = [], None
    while True:
        page = core.list_namespaced_config_map(fleet, limit=3, _continue=token)
        seen += [c.metadata.name for c in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert len(page.items) == 3
    assert sorted(made_by_the_test(seen)) == ["a", "b", "c", "d"]


def test_a_list_carries_the_collection_resource_version(core, fleet):
    listing = core.list_namespaced_config_map(fleet)
    newest = max(int(c.metadata.resource_version) for c in listing.items)
    assert int(listing.metadata.resource_version) >= newest


def test_metrics_count_the_requests_served_per_verb_and_resource(core, namespace, api_client, backend):
    def served() -> dict[str, float]:
        host = api_client.configuration.host
        text = api_client.rest_client.pool_manager.request("GET", f"{host}/metrics").data.decode()
        counts = {}
        for line in text.splitlines():
            if line.startswith("apiserver_request_total{") and 'resource="configmaps"' in line:
                labels, value = line.rsplit(" ", 1)
                verb = labels.split('verb="')[1].split('"')[0]
                counts[verb] = counts.get(verb, 0) + float(value)
        return counts

    before = served()
    core.create_namespaced_config_map(namespace, configmap("counted"))
    with pytest.raises(client.ApiException):
        core.create_namespaced_config_map(namespace, configmap("counted"))  # 409: counted with its code
    core.read_namespaced_config_map("counted", namespace)
    core.list_namespaced_config_map(namespace)
    after = served()
    counted = {verb: after[verb] - before.get(verb, 0) for verb in ("POST", "GET", "LIST")}
    if backend == "real":
        # The controllers of a real control plane read and write ConfigMaps too (the root CA
        # publisher, leader election...): ours are a lower bound there.
        assert counted["POST"] >= 2 and counted["GET"] >= 1 and counted["LIST"] >= 1, counted
    else:
        assert counted == {"POST": 2, "GET": 1, "LIST": 1}
