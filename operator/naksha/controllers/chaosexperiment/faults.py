"""Each fault's inject and restore, kept together, through ``naksha.kube``.

``intent`` is computed from what was read before anything changes and is recorded in status
before ``inject`` runs, so a restarted operator knows exactly what to put back. Injecting is
idempotent (a run found ``Injecting`` after a crash injects again), and so is restoring: a
restore writes only while the object still holds the value the fault set (a JSON patch with a
``test``), so a second attempt after a crash, or after the remediation already fixed it, writes
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from naksha.controllers.chaosexperiment import edge_blackout, pod_faults, telemetry
from naksha.kube import KubeApi, KubeError, NotFound
from naksha.models.chaosexperiment import Fault, RestoreStep
from naksha.models.resources import DEPLOYMENTS, PODS

UNPROCESSABLE = 422


class NotInjectable(Exception):
    """This fault cannot be injected here; the message says why, plainly."""


NOT_INJECTABLE: dict[str, str] = {
    "network-delay": (
        "network-delay needs a privileged helper pod running tc netem in the target's network "
        "namespace on its node (NET_ADMIN, hostPID); the local control plane's pods are processes "
        "in network namespaces the operator may not alter, so it is not injected here"
    ),
}


def refusal(fault: Fault, target_kind: str) -> str | None:
    """Why this fault cannot run against this kind of target here, or None."""
    if fault.type in NOT_INJECTABLE:
        return NOT_INJECTABLE[fault.type]
    if fault.type == "scale-to-zero" and target_kind != "Deployment":
        return "scale-to-zero targets Deployments (target.kind: Deployment)"
    if fault.type == "pod-kill" and target_kind != "Pod":
        return "pod-kill targets Pods (target.kind: Pod)"
    if fault.type == "edge-blackout" and target_kind != "EdgeNode":  # edge-blackout
        return "edge-blackout targets EdgeNodes (target.kind: EdgeNode)"
    # --- pod-failure, container-kill, cpu-stress (pod_faults) ---
    if fault.type in pod_faults.POD_FAULTS and target_kind != "Pod":
        return f"{fault.type} targets Pods (target.kind: Pod)"
    # --- end pod_faults ---
    if fault.type == "anomaly-injection" and not fault.params.get("stream"):
        return "anomaly-injection needs params.stream, the InsightStream whose ingest receives the spike"
    return None


def precondition(kube: KubeApi, namespace: str, fault: Fault) -> str | None:
    """Why the fault cannot go into what it targets, read from the cluster before injecting; or None."""
    if fault.type == "anomaly-injection":
        return telemetry.ingest_refusal(kube, namespace, telemetry.Spike.from_params(fault.params))
    return None


def intent(
    fault: Fault, targets: Mapping[str, Mapping[str, Any]], helpers: pod_faults.Helpers | None = None
) -> list[RestoreStep]:
    """What the fault will change and how to put it back, from the objects as read now.

    ``helpers`` names the run and the image of the helper pods, for the faults that need them.
    """
    if fault.type == "edge-blackout":  # edge-blackout: its own module
        return edge_blackout.intent(targets)
    steps: list[RestoreStep] = []
    for name, obj in sorted(targets.items()):
        # --- pod-failure, container-kill, cpu-stress (pod_faults) ---
        if fault.type in pod_faults.POD_FAULTS:
            assert helpers is not None, f"{fault.type} needs the run's helper settings"
            steps.append(pod_faults.intent(fault, name, obj, helpers))
            continue
        # --- end pod_faults ---
        if fault.type == "pod-kill":
            # Nothing to put back (the workload's controller replaces the pod); the uid tells the
            # replacement, reusing the name or not, from the killed pod, and the count of pods
            # ready now is what "replaced" means.
            steps.append(
                RestoreStep(
                    kind="Pod",
                    name=name,
                    field="none",
                    value=obj["metadata"].get("uid"),
                    injected_value=sum(1 for pod in targets.values() if _ready(pod)),
                )
            )
        elif fault.type == "anomaly-injection":
            break  # one stream, whatever the targets: recorded below
        elif fault.type == "scale-to-zero":
            replicas = int((obj.get("spec") or {}).get("replicas", 1))
            steps.append(
                RestoreStep(kind="Deployment", name=name, field="replicas", value=replicas, injected_value=0)
            )
    if fault.type == "anomaly-injection":
        spike = telemetry.Spike.from_params(fault.params)
        steps.append(
            RestoreStep(
                kind="InsightStream",
                name=spike.stream,
                field="baseline",
                value=spike.baseline,
                injected_value=spike.value,
                params=dict(fault.params),
            )
        )
    return steps


def inject(kube: KubeApi, namespace: str, fault: Fault, steps: list[RestoreStep]) -> list[str]:
    """Apply the fault; one line per target saying what was done."""
    done: list[str] = []
    # --- pod-failure, container-kill, cpu-stress (pod_faults) ---
    if fault.type in pod_faults.POD_FAULTS:
        pod_faults.start_helpers(kube, steps)
    # --- end pod_faults ---
    for step in steps:
        # --- pod-failure, container-kill, cpu-stress (pod_faults) ---
        if fault.type in pod_faults.POD_FAULTS:
            done.append(pod_faults.inject(kube, namespace, fault, step))
            continue
        # --- end pod_faults ---
        if fault.type == "pod-kill":
            grace = fault.params.get("gracePeriodSeconds")
            _delete_pod(kube, namespace, step.name, grace)
            done.append(f"pod {step.name} killed")
        elif fault.type == "scale-to-zero":
            wrote = _swap(kube, namespace, step.name, "/spec/replicas", step.value, step.injected_value)
            done.append(f"deployment {step.name} scaled {step.value} → 0" + ("" if wrote else " (already)"))
        elif fault.type == "anomaly-injection":
            spike = telemetry.Spike.from_params(fault.params)
            address = telemetry.push(kube, namespace, spike, spike.value)
            done.append(f"{spike.count} samples of {spike.metric}={spike.value:g} pushed to {address}")
        elif fault.type == "edge-blackout":  # edge-blackout
            done.append(edge_blackout.inject(kube, namespace, step))
    return done


def restore(kube: KubeApi, namespace: str, step: RestoreStep) -> tuple[bool, str]:
    """Put one thing back: (whether a write was made, what happened). KubeError when it failed."""
    # --- pod-failure, container-kill, cpu-stress (pod_faults) ---
    if step.field in (pod_faults.IMAGES, pod_faults.HELPER):
        return pod_faults.restore(kube, namespace, step)
    # --- end pod_faults ---
    if step.field == "replicas":
        try:
            wrote = _swap(kube, namespace, step.name, "/spec/replicas", step.injected_value, step.value)
        except NotFound:
            return False, f"deployment {step.name} is gone; nothing to restore"
        if wrote:
            return True, f"deployment {step.name} replicas restored to {step.value}"
        return False, f"deployment {step.name} no longer holds the fault's replicas; left as it is"
    if step.field == edge_blackout.FIELD:  # edge-blackout
        return edge_blackout.restore(kube, namespace, step)
    if step.field == "baseline":
        spike = telemetry.Spike.from_params(dict(step.params))
        address = telemetry.push(kube, namespace, spike, float(step.value))
        return (
            True,
            f"{spike.count} samples of {spike.metric}={float(step.value):g} (baseline) pushed to {address}",
        )
    return False, f"{step.kind.lower()} {step.name}: nothing to restore"


def effect_gone(
    kube: KubeApi, namespace: str, fault: Fault, steps: list[RestoreStep], selector: str, *, restored: bool
) -> bool:
    """Whether the fault's direct effect is undone (killed pods replaced, replicas above zero).

    A telemetry spike is undone only by its restore (the baseline pushed): until then a quiet
    detector has merely not seen the spike yet.
    """
    if fault.type == "anomaly-injection":
        return restored
    if fault.type == "edge-blackout":  # edge-blackout: the node's return is judged by not_back
        return restored
    # --- pod-failure, container-kill, cpu-stress (pod_faults) ---
    if fault.type in pod_faults.POD_FAULTS:
        return pod_faults.effect_gone(kube, namespace, fault, steps, restored=restored)
    # --- end pod_faults ---
    if fault.type == "pod-kill" and steps:
        pods = kube.list(PODS, namespace, label_selector=selector or None)
        killed = {step.value for step in steps}
        ready = [p for p in pods if _ready(p) and p["metadata"].get("uid") not in killed]
        if len(ready) < int(steps[0].injected_value or 0):
            return False
    for step in steps:
        if fault.type == "pod-kill":
            try:
                pod = kube.get(PODS, namespace, step.name)
            except NotFound:
                continue
            if pod["metadata"].get("uid") == step.value:
                return False
        elif step.field == "replicas":
            try:
                deployment = kube.get(DEPLOYMENTS, namespace, step.name)
            except NotFound:
                continue
            if int((deployment.get("spec") or {}).get("replicas", 1)) == step.injected_value:
                return False
    return True


def _delete_pod(kube: KubeApi, namespace: str, name: str, grace: Any) -> None:
    kube.delete(PODS, namespace, name, grace_period_seconds=None if grace is None else int(grace))


def _swap(kube: KubeApi, namespace: str, name: str, path: str, expected: Any, new: Any) -> bool:
    """Set ``path`` to ``new`` only while it holds ``expected``; False when it did not (no write)."""
    operations = [
        {"op": "test", "path": path, "value": expected},
        {"op": "replace", "path": path, "value": new},
    ]
    try:
        kube.json_patch(DEPLOYMENTS, namespace, name, operations)
    except KubeError as error:
        if error.status == UNPROCESSABLE:
            return False
        raise
    return True


def _ready(pod: Mapping[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
