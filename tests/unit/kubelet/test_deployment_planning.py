"""The local kubelet's Deployment planner takes one safe step at a time towards the spec."""

from __future__ import annotations

from typing import Any

from naksha.local.kubelet.deployments import TEMPLATE_HASH_LABEL, plan_deployment, template_hash

NOW = "2026-01-01T00:00:00Z"


def deployment(
    replicas: int = 3, image: str = "web:1", strategy: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]},
        },
    }
    if strategy:
        spec["strategy"] = strategy
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "u-1", "generation": 2}, "spec": spec}


def pod(name: str, owner: dict[str, Any], *, ready: bool = True, created: str = NOW) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "labels": {"app": "web", TEMPLATE_HASH_LABEL: template_hash(owner["spec"]["template"])},
        },
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_a_new_deployment_gets_all_its_pods_labelled_and_owned():
    plan = plan_deployment(deployment(3), [], NOW)
    assert len(plan.create) == 3
    first = plan.create[0]
    assert first["metadata"]["labels"]["app"] == "web"
    assert first["metadata"]["name"].startswith("web-" + first["metadata"]["labels"][TEMPLATE_HASH_LABEL])
    owner = first["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Deployment", "u-1", True)
    assert plan.status["replicas"] == 0 and plan.status["observedGeneration"] == 2


def test_scaling_down_removes_unready_pods_before_ready_ones():
    d = deployment(1)
    pods = [pod("a", d), pod("b", d, ready=False)]
    plan = plan_deployment(d, pods, NOW)
    assert plan.delete == ["b"] and not plan.create
    assert plan.status["replicas"] == 1 and plan.status["availableReplicas"] == 1


def test_a_template_change_surges_new_pods_before_removing_ready_old_ones():
    old = deployment(4, image="web:1")
    pods = [pod(f"old-{i}", old) for i in range(4)]
    new = deployment(4, image="web:2")
    plan = plan_deployment(new, pods, NOW)
    # 25% surge of 4 is 1 extra pod; 25% unavailable of 4 lets one ready old pod go.
    assert len(plan.create) == 1
    assert len(plan.delete) == 1
    assert plan.status["updatedReplicas"] == 0


def test_the_rollout_completes_once_every_pod_runs_the_new_template():
    d = deployment(2, image="web:2")
    plan = plan_deployment(d, [pod("n1", d), pod("n2", d)], NOW)
    assert not plan.create and not plan.delete
    conditions = {c["type"]: c for c in plan.status["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"


def test_recreate_removes_every_old_pod_before_starting_new_ones():
    old = deployment(2, image="web:1")
    new = deployment(2, image="web:2", strategy={"type": "Recreate"})
    plan = plan_deployment(new, [pod("o1", old), pod("o2", old)], NOW)
    assert sorted(plan.delete) == ["o1", "o2"] and not plan.create
    plan = plan_deployment(new, [], NOW)
    assert len(plan.create) == 2


def test_a_paused_deployment_keeps_its_pods():
    old = deployment(2, image="web:1")
    new = deployment(2, image="web:2")
    new["spec"]["paused"] = True
    plan = plan_deployment(new, [pod("o1", old), pod("o2", old)], NOW)
    assert not plan.create and not plan.delete


def test_without_enough_ready_pods_the_deployment_is_not_available():
    d = deployment(3)
    plan = plan_deployment(d, [pod("a", d, ready=False), pod("b", d, ready=False), pod("c", d)], NOW)
    conditions = {c["type"]: c for c in plan.status["conditions"]}
    assert conditions["Available"]["status"] == "False"
    assert plan.status["unavailableReplicas"] == 2
