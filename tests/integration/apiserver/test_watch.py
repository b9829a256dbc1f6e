"""Watches, driven by kubernetes_asyncio: resume, selection, expiry (410), bookmarks, timeouts.

Resume, selection, timeouts and the expiry of a resourceVersion from before the server's
history run on the session's control plane, on both backends. A small emulator of its own
(history of 20 events, bookmarks every 0.2 s) makes the emulator's own bound and bookmark
period quick to reach; a real API server's are minutes long, so those two stay emulator tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config, watch
from tests.integration.apiserver.conftest import ROOT_CA_CONFIGMAP

from naksha.local import LocalControlPlane

HISTORY = 20


@pytest.fixture(scope="module")
def small_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalControlPlane]:
    state = tmp_path_factory.mktemp("watch-plane")
    with LocalControlPlane(
        state_dir=state, kubelet=False, history_limit=HISTORY, bookmark_seconds=0.2
    ) as plane:
        yield plane


async def _core_with_namespace(kubeconfig: Path) -> AsyncIterator[client.CoreV1Api]:
    api = await config.new_client_from_config(config_file=str(kubeconfig))
    async with api:
        core = client.CoreV1Api(api)
        namespace = f"w-{uuid.uuid4().hex[:6]}"
        await core.create_namespace({"metadata": {"name": namespace}})
        core.test_namespace = namespace  # type: ignore[attr-defined]
        yield core
        await core.delete_namespace(namespace)


@pytest.fixture
async def core(control_plane) -> AsyncIterator[client.CoreV1Api]:
    """On the session's control plane (either backend)."""
    async for core in _core_with_namespace(Path(control_plane.kubeconfig_path)):
        yield core


@pytest.fixture
async def small_core(small_plane: LocalControlPlane) -> AsyncIterator[client.CoreV1Api]:
    async for core in _core_with_namespace(Path(small_plane.kubeconfig_path)):
        yield core


async def events(core: client.CoreV1Api, **query: object) -> list[tuple[str, str]]:
    seen = []
    async with watch.Watch() as stream:
        async for event in stream.stream(
            core.list_namespaced_config_map, core.test_namespace, timeout_seconds=1, **query
        ):
            if event["object"].metadata.name != ROOT_CA_CONFIGMAP:
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


async def first_watch_line(core: client.CoreV1Api, resource_version: str) -> str:
    response = await core.list_namespaced_config_map(
        core.test_namespace,
        watch=True,
        resource_version=resource_version,
        timeout_seconds=1,
        _preload_content=False,
    )
    line = (await response.content.readline()).decode()
    response.release()
    return line


async def test_a_watch_from_before_the_servers_history_is_410_expired_so_clients_relist(core):
    await core.create_namespaced_config_map(core.test_namespace, {"metadata": {"name": "now"}})
    line = await first_watch_line(core, "1")
    assert '"code":410' in line.replace(" ", "") and "Expired" in line


@pytest.mark.emulator_only(reason="a history of 20 events is the test emulator's setting")
async def test_a_resource_version_older_than_the_history_is_410_expired(small_core):
    core = small_core
    ns = core.test_namespace
    old = await core.create_namespaced_config_map(ns, {"metadata": {"name": "old"}})
    for i in range(HISTORY + 5):
        await core.patch_namespaced_config_map("old", ns, {"data": {"i": str(i)}})
    line = await first_watch_line(core, old.metadata.resource_version)
    assert '"code":410' in line.replace(" ", "") and "Expired" in line


@pytest.mark.emulator_only(reason="bookmarks every 0.2 s are this emulator's setting (a real one: ~1 min)")
async def test_bookmarks_arrive_when_asked_for(small_core):
    core = small_core
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
