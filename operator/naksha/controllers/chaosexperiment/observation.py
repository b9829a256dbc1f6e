"""What a run's next decision needs to know, read for the stage the run is in.

Before the fault: the opt-in, whether the fault can run here, ongoing incidents, the steady state.
While it is in place and after: the kill switch, abort conditions, the steady state, whether the
fault's effect is gone, and (when a playbook is expected) the AgentRun answering it.
"""

from __future__ import annotations

from naksha.controllers.chaosexperiment import edge_blackout, faults, probes, remediation, safety, targets
from naksha.domain.chaos.run import Observation, from_iso
from naksha.kube import KubeApi
from naksha.models.chaosexperiment import ChaosExperimentSpec, ChaosRun


def observe_run(
    kube: KubeApi,
    spec: ChaosExperimentSpec,
    namespace: str,
    run: ChaosRun,
    *,
    now: float,
    stop_requested: str | None,
    control: str,
    env_kill_switch: bool,
) -> Observation:
    kill = safety.kill_switch_on(kube, control, env_switch=env_kill_switch)
    if run.stage == "Pending":
        refusal = safety.opt_in_refusal(kube, namespace)
        if refusal is not None:
            return Observation(now=now, refusal=refusal)  # nothing else is read
        not_injectable = faults.refusal(spec.fault, spec.target.kind) or faults.precondition(
            kube, namespace, spec.fault
        )
        if not_injectable is not None:
            return Observation(now=now, not_injectable=not_injectable)
        found = targets.candidates(kube, namespace, spec.target, spec.fault)
        workloads = sorted({targets.workload_of(obj) for obj in found.values()})
        return Observation(
            now=now,
            kill_switch=kill,
            stop_requested=stop_requested,
            incident=safety.ongoing_incident(kube, namespace, workloads),
            steady=probes.first_failure(kube, namespace, spec.steady_state.probes, "before"),
        )
    if run.stage in ("Injecting", "Restoring"):
        return Observation(now=now, kill_switch=kill, stop_requested=stop_requested)
    phase = "during" if run.stage == "Injected" else "after"
    expected = spec.expected_remediation
    workloads = [expected.target] if expected.target else list(run.workloads or run.targets)
    since = from_iso(run.injected_at) if run.injected_at else now
    return Observation(
        now=now,
        kill_switch=kill,
        stop_requested=stop_requested,
        abort=probes.first_holding(kube, namespace, spec.abort_conditions) if phase == "during" else None,
        steady=probes.first_failure(kube, namespace, spec.steady_state.probes, phase)
        or (edge_blackout.not_back(kube, namespace, run) if _blackout_over(spec, phase) else None),
        fault_effect_gone=faults.effect_gone(
            kube,
            namespace,
            spec.fault,
            run.restore,
            targets.label_selector(spec.target),
            restored=run.restored_at is not None,
        ),
        remediation=(
            remediation.find(kube, namespace, workloads, expected.playbook, since)
            if expected.playbook
            else None  # nothing expected: no list of AgentRuns every tick
        ),
    )


def _blackout_over(spec: ChaosExperimentSpec, phase: str) -> bool:
    """An edge-blackout's node must have gone Unknown and be Ready again to count as steady."""
    return spec.fault.type == "edge-blackout" and phase == "after"
