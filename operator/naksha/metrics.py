"""Prometheus metrics of the operator: one ``naksha_*`` family, labelled by kind and namespace."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILE_TOTAL = Counter(
    "naksha_reconcile_total",
    "Reconciliations by kind, namespace and result (accepted, invalid, error).",
    ["kind", "namespace", "result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "naksha_reconcile_duration_seconds",
    "Time spent in one reconciliation, by kind.",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
AGENT_RUNS = Counter(
    "naksha_agent_runs_total",
    "AgentRuns that ended, by phase (Succeeded, Failed, Rejected, Refused).",
    ["phase"],
    registry=REGISTRY,
)
AGENT_ACTIONS = Counter(
    "naksha_agent_actions_total",
    "Actions AgentRuns applied, by work package and whether the run was a dry run.",
    ["wpk", "dry_run"],
    registry=REGISTRY,
)
AGENT_RECOVERY_SECONDS = Histogram(
    "naksha_agent_time_to_recover_seconds",
    "From an AgentRun's first action to the verified recovery, for runs that resolved.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
ROLLOUT_PROMOTIONS = Counter(
    "naksha_rollout_promotions_total",
    "Rollout revisions promoted to stable.",
    ["namespace"],
    registry=REGISTRY,
)
ROLLOUT_ROLLBACKS = Counter(
    "naksha_rollout_rollbacks_total",
    "Rollouts rolled back, by why (AnalysisFailed, Aborted, ProgressDeadlineExceeded).",
    ["namespace", "reason"],
    registry=REGISTRY,
)
CHAOS_RUNS = Counter(
    "naksha_chaos_runs_total", "ChaosExperiment runs by verdict.", ["verdict"], registry=REGISTRY
)
CHAOS_RECOVERY_SECONDS = Histogram(
    "naksha_chaos_time_to_recover_seconds",
    "From a fault's injection to the steady state being back.",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
RESOURCES = Gauge(
    "naksha_resources",
    "Objects the operator knows, by kind, namespace and phase.",
    ["kind", "namespace", "phase"],
    registry=REGISTRY,
)


class PhaseIndex:
    """Tracks each object's phase so the ``naksha_resources`` gauge stays exact."""

    def __init__(self) -> None:
        self._phases: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def record(self, kind: str, namespace: str, name: str, phase: str) -> None:
        with self._lock:
            previous = self._phases.get((kind, namespace, name))
            if previous == phase:
                return
            if previous is not None:
                RESOURCES.labels(kind, namespace, previous).dec()
            self._phases[(kind, namespace, name)] = phase
            RESOURCES.labels(kind, namespace, phase).inc()

    def forget(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            previous = self._phases.pop((kind, namespace, name), None)
            if previous is not None:
                RESOURCES.labels(kind, namespace, previous).dec()


PHASES = PhaseIndex()
_server_lock = threading.Lock()
_server_port: int | None = None


def serving_port() -> int | None:
    """The port ``/metrics`` listens on in this process, once ``serve`` ran."""
    return _server_port


def serve(port: int, host: str = "0.0.0.0") -> int:
    """Start the ``/metrics`` endpoint once per process; returns the port it listens on."""
    global _server_port
    with _server_lock:
        if _server_port is None:
            server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
            _server_port = int(server.server_address[1])
        return _server_port
