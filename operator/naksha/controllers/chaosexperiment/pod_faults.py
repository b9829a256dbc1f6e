"""The faults that act on a pod's containers: pod-failure, container-kill and cpu-stress.

- ``pod-failure`` swaps the image of the pod's containers for one that cannot start (by default
  under the reserved ``.invalid`` domain, which no registry resolves), so the kubelet stops the
  containers and reports ``ErrImagePull``/``ImagePullBackOff`` for the duration; the restore
  swaps the recorded images back and the kubelet starts them again. A pod's container image is
  one of the few fields of a running pod the API lets change.
- ``container-kill`` creates a one-shot helper pod on the target's node that SIGKILLs the
  container's main process (``naksha.workloads.chaos.kill_pod``); the kubelet restarts it per
  ``restartPolicy``. The restore deletes the helper pod.
- ``cpu-stress`` creates a burner pod on the target's node, deleted on restore.

Every write is conditional or named, so doing it twice does it once: images are swapped with a
JSON patch that ``test``s the current image, helper pods have a name fixed by the run and the
target (a second create answers 409), and their whole manifest is part of the recorded intent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from naksha.errors import RetryableError
from naksha.kube import Conflict, KubeApi, KubeError, NotFound
from naksha.models.chaosexperiment import Fault, RestoreStep
from naksha.models.resources import PODS
from naksha.workloads.chaos import helper_name, kill_pod, stress_pod

UNPROCESSABLE = 422
FAILING_IMAGE = "naksha-chaos.invalid/pod-failure:unpullable"
POD_FAULTS = frozenset({"pod-failure", "container-kill", "cpu-stress"})
IMAGES, HELPER = "images", "helper-pod"
HELPER_POLL_SECONDS = 0.5  # while a kill helper runs: the kill is seen within a tick of its end


@dataclass(frozen=True)
class Helpers:
    """Who the helper pods belong to and what image runs ``naksha chaos-helper``."""

    experiment: str
    run: str
    image: str


def intent(fault: Fault, name: str, pod: Mapping[str, Any], helpers: Helpers) -> RestoreStep:
    """What the fault changes on this pod and how to put it back."""
    containers = [c for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, Mapping)]
    namespace = str(pod["metadata"].get("namespace", ""))
    node = (pod.get("spec") or {}).get("nodeName")
    if fault.type == "pod-failure":
        chosen = fault.params.get("container")
        images = {str(c["name"]): str(c.get("image", "")) for c in containers if chosen in (None, c["name"])}
        failing = str(fault.params.get("image") or FAILING_IMAGE)
        return RestoreStep(kind="Pod", name=name, field=IMAGES, value=images, injected_value=failing)
    helper = helper_name(helpers.experiment, helpers.run, name, fault.type)
    if fault.type == "container-kill":
        container = str(fault.params.get("container") or (containers[0]["name"] if containers else ""))
        container_id = _container_id(pod, container)
        body = kill_pod(
            helper,
            namespace,
            experiment=helpers.experiment,
            run=helpers.run,
            node=node,
            image=helpers.image,
            container_id=container_id,
        )
        params = {"pod": body, "container": container}
        return RestoreStep(
            kind="Pod", name=name, field=HELPER, value=container_id, injected_value=helper, params=params
        )
    body = stress_pod(
        helper,
        namespace,
        experiment=helpers.experiment,
        run=helpers.run,
        node=node,
        image=helpers.image,
        workers=int(fault.params.get("workers", 1)),
        load=int(fault.params.get("load", 100)),
    )
    return RestoreStep(
        kind="Pod", name=name, field=HELPER, value=node, injected_value=helper, params={"pod": body}
    )


def start_helpers(kube: KubeApi, steps: list[RestoreStep]) -> None:
    """Create every helper pod of the run first (a second time finds the first), so that waiting
    for one to end does not hold the others back."""
    for step in steps:
        if step.field == HELPER and step.value:
            _create(kube, dict(step.params["pod"]))


def inject(kube: KubeApi, namespace: str, fault: Fault, step: RestoreStep) -> str:
    """Apply the fault to one pod; a line saying what was done."""
    if step.field == IMAGES:
        try:
            wrote = _swap_images(kube, namespace, step.name, dict(step.value), str(step.injected_value))
        except NotFound:
            return f"pod {step.name} is gone; nothing to fail"
        return f"pod {step.name} images → {step.injected_value}" + ("" if wrote else " (already)")
    if fault.type == "container-kill" and not step.value:
        raise RetryableError(
            f"pod {step.name}: container {step.params.get('container')} has no container ID yet"
        )
    created = _create(kube, dict(step.params["pod"]))
    if fault.type == "container-kill":
        return _killed(kube, namespace, step)
    return f"helper pod {step.injected_value} burns CPU beside pod {step.name}" + (
        "" if created else " (already)"
    )


def _killed(kube: KubeApi, namespace: str, step: RestoreStep) -> str:
    """The fault is in place once the helper has ended: until then the run stays Injecting (and
    its duration, and the time to recover, count from the kill, not from the helper's creation)."""
    helper, container = str(step.injected_value), step.params.get("container")
    try:
        pod = kube.get(PODS, namespace, helper)
    except NotFound:
        raise RetryableError(f"helper pod {helper} is not there yet", delay=HELPER_POLL_SECONDS) from None
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    if phase == "Succeeded":
        return f"helper pod {helper} killed container {container} of pod {step.name}"
    if phase == "Failed":
        ended = next(
            (s.get("state", {}).get("terminated") or {} for s in status.get("containerStatuses") or []), {}
        )
        why = ended.get("message") or ended.get("reason") or f"exit {ended.get('exitCode')}"
        return f"helper pod {helper} could not kill container {container} of pod {step.name}: {why}"
    raise RetryableError(
        f"helper pod {helper} has not killed container {container} yet ({phase})", delay=HELPER_POLL_SECONDS
    )


def restore(kube: KubeApi, namespace: str, step: RestoreStep) -> tuple[bool, str]:
    """Put one pod back: (whether a write was made, what happened). KubeError when it failed."""
    if step.field == IMAGES:
        originals = dict(step.value)
        try:
            wrote = _swap_images(
                kube, namespace, step.name, {n: str(step.injected_value) for n in originals}, originals
            )
        except NotFound:
            return False, f"pod {step.name} is gone; its replacement has its own images"
        if wrote:
            return True, f"pod {step.name} images restored ({', '.join(sorted(set(originals.values())))})"
        return False, f"pod {step.name} no longer holds the fault's image; left as it is"
    helper = str(step.injected_value)
    try:
        kube.get(PODS, namespace, helper)
    except NotFound:
        return False, f"helper pod {helper} is already gone"
    kube.delete(PODS, namespace, helper, grace_period_seconds=1)
    return True, f"helper pod {helper} deleted"


def effect_gone(
    kube: KubeApi, namespace: str, fault: Fault, steps: list[RestoreStep], *, restored: bool
) -> bool:
    """Whether the pods run as before: images back and ready, a killed container running again."""
    if fault.type == "cpu-stress":
        return restored
    if fault.type == "pod-failure" and not restored:
        return False
    for step in steps:
        try:
            pod = kube.get(PODS, namespace, step.name)
        except NotFound:
            continue  # replaced by its workload's controller: the workload's probes judge it
        if fault.type == "pod-failure" and not _ready(pod):
            return False
        if fault.type == "container-kill":
            container = str(step.params.get("container"))
            status = _container_status(pod, container)
            if status.get("containerID") == step.value or not status.get("ready"):
                return False
    return True


def _swap_images(
    kube: KubeApi, namespace: str, name: str, expected: Mapping[str, str], new: Mapping[str, str] | str
) -> bool:
    """Set each named container's image while it still is ``expected``; False when none was (no write)."""
    pod = kube.get(PODS, namespace, name)
    operations: list[dict[str, Any]] = []
    for index, container in enumerate((pod.get("spec") or {}).get("containers") or []):
        if container.get("name") not in expected:
            continue
        path = f"/spec/containers/{index}/image"
        image = new if isinstance(new, str) else new[container["name"]]
        operations.append({"op": "test", "path": path, "value": expected[container["name"]]})
        operations.append({"op": "replace", "path": path, "value": image})
    if not operations:
        return False
    try:
        kube.json_patch(PODS, namespace, name, operations)
    except KubeError as error:
        if error.status == UNPROCESSABLE:
            return False
        raise
    return True


def _create(kube: KubeApi, body: dict[str, Any]) -> bool:
    try:
        kube.create(body)
    except Conflict:
        return False
    return True


def _container_status(pod: Mapping[str, Any], container: str) -> Mapping[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            return dict(status)
    return {}


def _container_id(pod: Mapping[str, Any], container: str) -> str:
    return str(_container_status(pod, container).get("containerID") or "")


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
