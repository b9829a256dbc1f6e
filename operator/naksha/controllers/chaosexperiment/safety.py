"""What may stop a run before or during the fault: the namespace opt-in, the kill switch, incidents."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from naksha.kube import KubeApi, NotFound
from naksha.models.labels import CHAOS_OPT_IN as OPT_IN_LABEL
from naksha.models.resources import AGENT_RUNS, CONFIG_MAPS, NAMESPACES, ROLLOUTS

OPT_IN_VALUE = "enabled"
KILL_SWITCH_KEY = "killSwitch"
ACTIVE_AGENT_PHASES = frozenset({"Pending", "Running", "AwaitingApproval"})
UNSETTLED_ROLLOUT_PHASES = frozenset({"Progressing", "Paused", "Degraded"})  # Degraded: aborted


def opt_in_refusal(kube: KubeApi, namespace: str) -> str | None:
    """Why chaos may not run in the namespace, or None when it is labelled ``naksha.io/chaos=enabled``."""
    try:
        labels = (kube.get(NAMESPACES, None, namespace).get("metadata") or {}).get("labels") or {}
    except NotFound:
        return f"namespace {namespace} does not exist"
    if labels.get(OPT_IN_LABEL) != OPT_IN_VALUE:
        return f"namespace {namespace} is not labelled {OPT_IN_LABEL}={OPT_IN_VALUE}"
    return None


class _SwitchCache:
    """One read of the switch serves every experiment's pass for a quarter of a second.

    A hundred experiments ticking twice a second would otherwise read the same ConfigMap 200
    times a second; 0.25 s of staleness plus the 0.5 s tick still restores within a second.
    """

    TTL_SECONDS = 0.25

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read: dict[str, tuple[float, bool]] = {}

    def get(self, kube: KubeApi, control: str) -> bool:
        with self._lock:
            read_at, value = self._read.get(control, (0.0, False))
            if time.monotonic() - read_at < self.TTL_SECONDS:
                return value
            value = _read_switch(kube, control)
            self._read[control] = (time.monotonic(), value)
            return value


_switch = _SwitchCache()


def kill_switch_on(kube: KubeApi, control: str, *, env_switch: bool = False) -> bool:
    """Whether the cluster-wide switch stops all chaos (the ConfigMap ``control`` says on, or the env)."""
    return env_switch or _switch.get(kube, control)


def _read_switch(kube: KubeApi, control: str) -> bool:
    namespace, _, name = control.partition("/")
    try:
        data = kube.get(CONFIG_MAPS, namespace, name).get("data") or {}
    except NotFound:
        return False
    return str(data.get(KILL_SWITCH_KEY, "")).strip().lower() in ("on", "true", "1", "yes")


def ongoing_incident(kube: KubeApi, namespace: str, workloads: Iterable[str]) -> str | None:
    """An AgentRun acting on one of the workloads, or a Rollout of one not settled; None if neither."""
    names = set(workloads)
    for run in kube.list(AGENT_RUNS, namespace):
        target = (run.get("spec") or {}).get("target") or {}
        phase = (run.get("status") or {}).get("phase") or "Pending"
        if target.get("name") in names and phase in ACTIVE_AGENT_PHASES:
            return f"AgentRun {run['metadata']['name']} is acting on {target.get('name')} ({phase})"
    for rollout in kube.list(ROLLOUTS, namespace):
        name = str(rollout["metadata"]["name"])
        phase = (rollout.get("status") or {}).get("phase")
        if phase in UNSETTLED_ROLLOUT_PHASES and any(w == name or w.startswith(f"{name}-") for w in names):
            return f"Rollout {name} is {phase}"
    return None
