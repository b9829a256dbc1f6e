"""Watches, driven by kubernetes_asyncio: resume, selection, expiry (410), bookmarks, timeouts.

A small control plane of its own (history of 20 events, bookmarks every 0.2 s) makes expiry
and bookmarks quick to reach.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config, watch

from naksha.local import LocalControlPlane

HISTORY = 20


@pytest.fixture(scope="module")
def small_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalControlPlane]:
    state = tmp_path_factory.mktemp("watch-plane")
    with LocalControlPlane(
        state_dir=state, kubelet=False, history_limit=HISTORY, bookmark_seconds=0.2
    ) as plane:
        yield plane


@pytest.fixture
async def core(small_plane: LocalControlPlane) -> AsyncIterator[client.CoreV1Api]:
    api = await config.new_client_from_config(config_file=str(Path(small_plane.kubeconfig_path)))
    async with api:
        core = client.CoreV1Api(api)
        namespace = f"w-{uuid.uuid4().hex[:6]}"
        await core.create_namespace({"metadata": {"name": namespace}})
        core.test_namespace = namespace  # type: ignore[attr-defined]
        yield core


async def events(core: client.CoreV1Api, **query: object) -> list[tuple[str, str]]:
    seen = []
    async with watch.Watch() as stream:
        async for event in stream.stream(
            core.list_namespaced_config_map, core.test_namespace, timeout_seconds=1, **query
        ):
            seen.append((event["type"], event["object"].metadata.name))
    return seen


async def test_a_watch_from_a_resource_version_replays_what_happened_since(core):
    ns = core.test_namespace
    first = await core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    await core.create_namespaced_config_map(ns, {"metadata": {"name": "b"}})
    await core.patch_namespaced_config_map("a", ns, {"data": {"k": "v"}})
    await core.delete_namespaced_config_map("b", ns)
    seen = await events(core, resource_version=first.metadata.resource_version)
    assert seen == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]


async def test_a_watch_without_a_resource_version_starts_with_the_current_objects(core):
    ns = core.test_namespace
    await core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}})
    assert await events(core) == [("ADDED", "x")]


async def test_a_label_selected_watch_sees_objects_enter_and_leave_the_selection(core):
    ns = core.test_namespace
    start = await core.create_namespaced_config_map(ns, {"metadata": {"name": "m", "labels": {"team": "a"}}})
    await core.patch_namespaced_config_map("m", ns, {"metadata": {"labels": {"team": "b"}}})
    await core.patch_namespaced_config_map("m", ns, {"metadata": {"labels": {"team": "a"}}})
    seen = await events(core, label_selector="team=a", resource_version=start.metadata.resource_version)
    assert seen == [("DELETED", "m"), ("ADDED", "m")]


async def test_a_resource_version_older_than_the_history_is_410_expired(core):
    ns = core.test_namespace
    old = await core.create_namespaced_config_map(ns, {"metadata": {"name": "old"}})
    for i in range(HISTORY + 5):
        await core.patch_namespaced_config_map("old", ns, {"data": {"i": str(i)}})
    response = await core.list_namespaced_config_map(
        ns,
        watch=True,
        resource_version=old.metadata.resource_version,
        timeout_seconds=1,
        _preload_content=False,
    )
    line = (await response.content.readline()).decode()
    response.release()
    assert '"code":410' in line.replace(" ", "") and "Expired" in line


async def test_bookmarks_arrive_when_asked_for(core):
    response = await core.list_namespaced_config_map(
        core.test_namespace, watch=True, allow_watch_bookmarks=True, timeout_seconds=1, _preload_content=False
    )
    body = (await response.read()).decode()
    assert '"type":"BOOKMARK"' in body.replace(" ", "")
    assert body.count("BOOKMARK") >= 2


async def test_timeout_seconds_ends_the_stream(core):
    import time

    started = time.monotonic()
    response = await core.list_namespaced_config_map(
        core.test_namespace, watch=True, timeout_seconds=1, _preload_content=False
    )
    await response.read()
    assert 0.9 <= time.monotonic() - started < 3
