"""Finding the AgentRun that answered a fault: the expected playbook, acting on the target."""

from __future__ import annotations

from collections.abc import Iterable

from naksha.domain.chaos.run import Remediation
from naksha.kube import KubeApi
from naksha.models import timestamps
from naksha.models.resources import AGENT_RUNS


def find(
    kube: KubeApi, namespace: str, workloads: Iterable[str], playbook: str | None, since: float
) -> Remediation | None:
    """The first AgentRun created since the fault (a second's slack: timestamps have seconds) on a target."""
    names = set(workloads)
    found: list[Remediation] = []
    for run in kube.list(AGENT_RUNS, namespace):
        spec = run.get("spec") or {}
        if (spec.get("target") or {}).get("name") not in names:
            continue
        if playbook is not None and (spec.get("playbookRef") or {}).get("name") != playbook:
            continue
        created = _epoch(run["metadata"].get("creationTimestamp"))
        if created is None or created < since - 1.0:
            continue
        phase = (run.get("status") or {}).get("phase")
        found.append(Remediation(str(run["metadata"]["name"]), phase, created))
    return min(found, key=lambda r: (r.created_at, r.name)) if found else None


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    return timestamps.to_seconds(text)
