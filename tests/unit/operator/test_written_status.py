"""A pass decides from its object's latest status: a body older than this operator's last write
is read afresh, a body at the version it last wrote or read costs no request."""

from __future__ import annotations

from typing import Any

from tests.support.fake_kube import FakeKube

from naksha.controllers.written_status import WrittenVersions
from naksha.kube import ResourceRef
from naksha.models.resources import ROLLOUTS


class CountingKube(FakeKube):
    def __init__(self, *objects: Any) -> None:
        super().__init__(*objects)
        self.reads = 0

    def get(self, ref: ResourceRef, namespace: str | None, name: str) -> dict[str, Any]:
        self.reads += 1
        return super().get(ref, namespace, name)


def rollout() -> dict[str, Any]:
    return {
        "apiVersion": "naksha.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u-1"},
        "spec": {"replicas": 3},
    }


def test_a_body_older_than_the_last_write_is_read_afresh_with_that_write():
    kube = CountingKube(rollout())
    written = WrittenVersions(ROLLOUTS)
    stale = kube.get(ROLLOUTS, "shop", "web")
    written.write(kube, "u-1", "shop", "web", {"step": 2, "phase": "Progressing"})
    current = written.fresh(kube, stale)
    assert current is not None and current["status"] == {"step": 2, "phase": "Progressing"}


def test_a_body_at_the_version_last_written_is_used_without_a_request():
    kube = CountingKube(rollout())
    written = WrittenVersions(ROLLOUTS)
    written.write(kube, "u-1", "shop", "web", {"step": 1})
    body = kube.get(ROLLOUTS, "shop", "web")
    reads = kube.reads
    assert written.fresh(kube, body) is body
    assert kube.reads == reads


def test_a_body_at_the_version_last_read_is_used_without_a_request():
    kube = CountingKube(rollout())
    written = WrittenVersions(ROLLOUTS)
    kube.merge_patch(ROLLOUTS, "shop", "web", {"metadata": {"annotations": {"someone": "else"}}})
    lagging = {"metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "0"}}
    current = written.fresh(kube, lagging)
    assert current is not None and kube.reads == 1
    assert written.fresh(kube, current) is current and kube.reads == 1


def test_a_write_by_another_client_after_the_last_one_is_read():
    kube = CountingKube(rollout())
    written = WrittenVersions(ROLLOUTS)
    written.write(kube, "u-1", "shop", "web", {"step": 1})
    kube.merge_patch(ROLLOUTS, "shop", "web", {"status": {"step": 5}}, status=True)
    body = kube.get(ROLLOUTS, "shop", "web")
    body["metadata"]["resourceVersion"] = "stale"
    current = written.fresh(kube, body)
    assert current is not None and current["status"]["step"] == 5


def test_an_object_gone_meanwhile_gives_nothing_and_forgetting_it_drops_its_version():
    kube = CountingKube(rollout())
    written = WrittenVersions(ROLLOUTS)
    written.write(kube, "u-1", "shop", "web", {"step": 1})
    body = kube.get(ROLLOUTS, "shop", "web")
    kube.delete(ROLLOUTS, "shop", "web")
    written.forget("u-1")
    assert written.fresh(kube, body) is None
