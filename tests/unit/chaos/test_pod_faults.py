"""pod-failure, container-kill and cpu-stress against an in-memory API: each write made once,
whatever is done twice (a restarted operator injects and restores again)."""

from __future__ import annotations

import pytest
from tests.support.fake_kube import FakeKube

from naksha.controllers.chaosexperiment import faults
from naksha.controllers.chaosexperiment.pod_faults import FAILING_IMAGE, Helpers
from naksha.errors import RetryableError
from naksha.models.chaosexperiment import Fault
from naksha.models.resources import PODS

HELPERS = Helpers("exp", "run-1", "naksha:1")


def pod(name: str = "web-1", image: str = "app:1") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "labels": {"app": "web"}},
        "spec": {
            "nodeName": "node-7",
            "containers": [{"name": "app", "image": image}, {"name": "side", "image": "s:1"}],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "containerID": "containerd://abc", "ready": True}],
        },
    }


def writes(kube: FakeKube) -> list[tuple[str, str, str]]:
    return [(verb, plural, name) for verb, plural, name, _ in kube.writes]


class TestPodFailure:
    def test_the_image_is_swapped_once_and_put_back_once(self):
        kube = FakeKube(pod())
        fault = Fault(type="pod-failure", params={"container": "app"})
        steps = faults.intent(fault, {"web-1": pod()}, HELPERS)
        assert steps[0].value == {"app": "app:1"} and steps[0].injected_value == FAILING_IMAGE

        assert faults.inject(kube, "ns", fault, steps) == [f"pod web-1 images → {FAILING_IMAGE}"]
        assert faults.inject(kube, "ns", fault, steps) == [f"pod web-1 images → {FAILING_IMAGE} (already)"]
        containers = kube.get(PODS, "ns", "web-1")["spec"]["containers"]
        assert [c["image"] for c in containers] == [FAILING_IMAGE, "s:1"]  # only the chosen container

        assert faults.restore(kube, "ns", steps[0]) == (True, "pod web-1 images restored (app:1)")
        assert faults.restore(kube, "ns", steps[0])[0] is False  # a second restore writes nothing
        assert writes(kube) == [("json-patch", "pods", "web-1"), ("json-patch", "pods", "web-1")]

    def test_an_image_changed_by_someone_else_meanwhile_is_left_as_it_is(self):
        kube = FakeKube(pod())
        fault = Fault(type="pod-failure")
        steps = faults.intent(fault, {"web-1": pod()}, HELPERS)
        faults.inject(kube, "ns", fault, steps)
        kube.json_patch(
            PODS, "ns", "web-1", [{"op": "replace", "path": "/spec/containers/0/image", "value": "app:2"}]
        )
        wrote, line = faults.restore(kube, "ns", steps[0])
        assert not wrote and "no longer holds the fault's image" in line
        assert kube.get(PODS, "ns", "web-1")["spec"]["containers"][0]["image"] == "app:2"

    def test_a_pod_gone_meanwhile_needs_no_restore(self):
        kube = FakeKube()
        steps = faults.intent(Fault(type="pod-failure"), {"web-1": pod()}, HELPERS)
        assert faults.restore(kube, "ns", steps[0]) == (
            False,
            "pod web-1 is gone; its replacement has its own images",
        )


class TestHelperPods:
    def test_cpu_stress_creates_its_burner_on_the_targets_node_once_and_deletes_it_once(self):
        kube = FakeKube(pod())
        fault = Fault(type="cpu-stress", params={"workers": 2, "load": 50})
        (step,) = faults.intent(fault, {"web-1": pod()}, HELPERS)
        faults.inject(kube, "ns", fault, [step])
        faults.inject(kube, "ns", fault, [step])  # after a crash: the same name, found
        helper = kube.get(PODS, "ns", str(step.injected_value))
        assert helper["spec"]["nodeName"] == "node-7"
        assert helper["spec"]["containers"][0]["args"][-4:] == ["--workers", "2", "--load", "50"]
        assert faults.restore(kube, "ns", step)[0] is True
        assert faults.restore(kube, "ns", step) == (
            False,
            f"helper pod {step.injected_value} is already gone",
        )
        assert [verb for verb, _, name in writes(kube) if name == step.injected_value] == ["create", "delete"]

    def test_container_kill_is_in_place_only_once_its_helper_has_ended(self):
        kube = FakeKube(pod())
        fault = Fault(type="container-kill", params={"container": "app"})
        (step,) = faults.intent(fault, {"web-1": pod()}, HELPERS)
        assert step.value == "containerd://abc"
        with pytest.raises(RetryableError, match="has not killed container app yet") as waiting:
            faults.inject(kube, "ns", fault, [step])
        assert waiting.value.delay < 1  # polled at the tick, not at the default retry
        helper = str(step.injected_value)
        kube.merge_patch(PODS, "ns", helper, {"status": {"phase": "Succeeded"}}, status=True)
        assert faults.inject(kube, "ns", fault, [step]) == [
            f"helper pod {helper} killed container app of pod web-1"
        ]
        assert [verb for verb, _, name in writes(kube) if name == helper and verb == "create"] == ["create"]

    def test_a_container_without_an_id_is_not_killed_yet(self):
        unstarted = pod()
        unstarted["status"]["containerStatuses"] = []
        kube = FakeKube(unstarted)
        fault = Fault(type="container-kill")
        steps = faults.intent(fault, {"web-1": unstarted}, HELPERS)
        with pytest.raises(RetryableError, match="has no container ID yet"):
            faults.inject(kube, "ns", fault, steps)
        assert writes(kube) == []

    @pytest.mark.parametrize("fault", ["pod-failure", "container-kill", "cpu-stress"])
    def test_the_pod_faults_target_pods_only(self, fault):
        assert faults.refusal(Fault(type=fault), "Deployment") == f"{fault} targets Pods (target.kind: Pod)"
        assert faults.refusal(Fault(type=fault), "Pod") is None
