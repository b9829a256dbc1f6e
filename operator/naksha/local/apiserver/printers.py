"""The API server's own Table columns for the built-in kinds ``kubectl get`` shows most.

Pods (READY, STATUS, RESTARTS, AGE; wide: IP, NODE, NOMINATED NODE, READINESS GATES),
Deployments, ReplicaSets, Jobs and Services, with the cells computed as the real printers
compute them (a pod's STATUS is its most telling container reason, a Job's COMPLETIONS is
``succeeded/completions``...). Columns of priority 1 are the ones ``-o wide`` adds.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

Row = Callable[[dict[str, Any]], list[Any]]
NONE = "<none>"


def column(name: str, kind: str = "string", description: str = "", *, wide: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "format": "",
        "description": description,
        "priority": 1 if wide else 0,
    }


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration``: ``45s``, ``3m20s``, ``5h12m``, ``3d4h``, ``2y30d``."""
    if seconds < -1:
        return "<invalid>"
    total = max(0, int(seconds))
    minutes, hours, days = total // 60, total // 3600, total // 86400
    if total < 120:
        return f"{total}s"
    if minutes < 10:
        return f"{minutes}m{total % 60}s" if total % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    return f"{years}y{days % 365}d" if years < 8 and days % 365 else f"{years}y"


def _seconds_since(timestamp: Any, until: Any = None) -> float | None:
    def parse(value: Any) -> datetime.datetime | None:
        try:
            return datetime.datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
        except ValueError:
            return None

    start = parse(timestamp)
    if start is None:
        return None
    end = parse(until) if until else datetime.datetime.now(tz=datetime.UTC)
    return None if end is None else (end - start).total_seconds()


def age(obj: dict[str, Any]) -> str:
    seconds = _seconds_since(obj["metadata"].get("creationTimestamp"))
    return "<unknown>" if seconds is None else human_duration(seconds)


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _containers(template_spec: dict[str, Any]) -> tuple[str, str]:
    containers = template_spec.get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _selector(selector: dict[str, Any] | None) -> str:
    if not selector:
        return NONE
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = (
            expression.get("key"),
            expression.get("operator"),
            expression.get("values") or [],
        )
        if operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {'in' if operator == 'In' else 'notin'} ({','.join(sorted(values))})")
    return ",".join(parts) or NONE


def _pod_status(pod: dict[str, Any]) -> str:
    status = _status(pod)
    reason = status.get("reason") or status.get("phase") or "Unknown"
    running = False
    for container in reversed(status.get("containerStatuses") or []):
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated and terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated:
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
        elif "running" in state and container.get("ready"):
            running = True
    if reason == "Completed" and running:
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        reason = "Running" if ready else "NotReady"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return str(reason)


def _pod_row(pod: dict[str, Any]) -> list[Any]:
    statuses = _status(pod).get("containerStatuses") or []
    total = len(_spec(pod).get("containers") or [])
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    gates = _spec(pod).get("readinessGates") or []
    return [
        f"{ready}/{total}",
        _pod_status(pod),
        str(restarts),
        age(pod),
        _status(pod).get("podIP") or NONE,
        _spec(pod).get("nodeName") or NONE,
        _status(pod).get("nominatedNodeName") or NONE,
        f"{len(gates)}" if gates else NONE,
    ]


def _deployment_row(deployment: dict[str, Any]) -> list[Any]:
    spec, status = _spec(deployment), _status(deployment)
    names, images = _containers((spec.get("template") or {}).get("spec") or {})
    return [
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age(deployment),
        names,
        images,
        _selector(spec.get("selector")),
    ]


def _replicaset_row(replicaset: dict[str, Any]) -> list[Any]:
    spec, status = _spec(replicaset), _status(replicaset)
    names, images = _containers((spec.get("template") or {}).get("spec") or {})
    return [
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        age(replicaset),
        names,
        images,
        _selector(spec.get("selector")),
    ]


def _job_status(job: dict[str, Any]) -> str:
    conditions = {c.get("type"): c.get("status") for c in _status(job).get("conditions") or []}
    for kind in ("Failed", "Complete", "Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if conditions.get(kind) == "True":
            return kind
    return "Terminating" if job["metadata"].get("deletionTimestamp") else "Running"


def _job_row(job: dict[str, Any]) -> list[Any]:
    spec, status = _spec(job), _status(job)
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    seconds = _seconds_since(status.get("startTime"), status.get("completionTime"))
    names, images = _containers((spec.get("template") or {}).get("spec") or {})
    return [
        _job_status(job),
        completions,
        "" if seconds is None else human_duration(seconds),
        age(job),
        names,
        images,
        _selector(spec.get("selector")),
    ]


def _service_row(service: dict[str, Any]) -> list[Any]:
    spec = _spec(service)
    kind = spec.get("type") or "ClusterIP"
    if kind == "ExternalName":
        external = spec.get("externalName") or NONE
    elif kind == "LoadBalancer":
        ingress = (_status(service).get("loadBalancer") or {}).get("ingress") or []
        addresses = [i.get("ip") or i.get("hostname") for i in ingress] + list(spec.get("externalIPs") or [])
        external = ",".join(a for a in addresses if a) or "<pending>"
    else:
        external = ",".join(spec.get("externalIPs") or []) or NONE
    ports = []
    for port in spec.get("ports") or []:
        node = f":{port['nodePort']}" if port.get("nodePort") else ""
        ports.append(f"{port.get('port')}{node}/{port.get('protocol') or 'TCP'}")
    selector = spec.get("selector") or {}
    return [
        kind,
        spec.get("clusterIP") or NONE,
        external,
        ",".join(ports) or NONE,
        age(service),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or NONE,
    ]


_WORKLOAD_WIDE = [
    column("Containers", description="Names of each container in the template.", wide=True),
    column("Images", description="Images referenced by each container in the template.", wide=True),
    column("Selector", description="Label selector for the pods.", wide=True),
]
_AGE = column("Age", description="CreationTimestamp as elapsed time.")

BUILTIN: dict[tuple[str, str], tuple[list[dict[str, Any]], Row]] = {
    ("", "pods"): (
        [
            column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
            column("Status", description="The aggregate status of the containers in this pod."),
            column(
                "Restarts", description="The number of times the containers in this pod have been restarted."
            ),
            _AGE,
            column("IP", description="IP address allocated to the pod.", wide=True),
            column("Node", description="Name of the Node this pod runs on.", wide=True),
            column("Nominated Node", description="Node the scheduler nominated for preemption.", wide=True),
            column("Readiness Gates", description="Pod readiness gates.", wide=True),
        ],
        _pod_row,
    ),
    ("apps", "deployments"): (
        [
            column("Ready", description="Number of the pod with ready state."),
            column("Up-to-date", "integer", "Total number of pods updated to the desired template."),
            column("Available", "integer", "Total number of available pods."),
            _AGE,
            *_WORKLOAD_WIDE,
        ],
        _deployment_row,
    ),
    ("apps", "replicasets"): (
        [
            column("Desired", "integer", "Number of desired pods."),
            column("Current", "integer", "Number of actual replicas."),
            column("Ready", "integer", "The number of ready replicas for this replica set."),
            _AGE,
            *_WORKLOAD_WIDE,
        ],
        _replicaset_row,
    ),
    ("batch", "jobs"): (
        [
            column("Status", description="Status of the job."),
            column("Completions", description="The completion status of the job."),
            column("Duration", description="Time required to complete the job."),
            _AGE,
            *_WORKLOAD_WIDE,
        ],
        _job_row,
    ),
    ("", "services"): (
        [
            column("Type", description="The type of the service."),
            column("Cluster-IP", description="The IP address of the service."),
            column("External-IP", description="External IPs of the service."),
            column("Port(s)", description="The ports exposed by the service."),
            _AGE,
            column(
                "Selector", description="Route traffic to pods with labels matching this selector.", wide=True
            ),
        ],
        _service_row,
    ),
}
