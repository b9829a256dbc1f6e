"""The six capability reports (D.1-D.6), each rendered from the live state into markdown lines.

Every report has the seed's sections for its capability, its objects and Events, the test
results of its folders, timelines drawn from the objects (PNG, linked), and a "BLOCKED /
simulated here" section that names what did not run for real where the report was made.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from naksha.report import chaos, federation, learning, plots
from naksha.report.capabilities import Capability
from naksha.report.common import (
    blocked_section,
    events_section,
    header,
    markdown_table,
    name_of,
    not_built,
    objects_section,
    on_local_plane,
    stamp,
    status_of,
    tests_section,
)
from naksha.report.junit import TestResults
from naksha.report.state import LiveState, event_time

Renderer = Callable[[Capability, LiveState, TestResults | None, Path], list[str]]
LOCAL_PODS = "Pods run as local processes on the local kubelet (no container runtime, no image pulls)."


def _image(path: Path | None, caption: str, missing: str) -> list[str]:
    if path:
        return [f"![{caption}]({path.name})", ""]
    return [f"_{plots.missing() or missing}_", ""]


def _code(text: str, language: str = "") -> list[str]:
    return [f"```{language}", text.rstrip(), "```", ""]


def insight_streams(
    capability: Capability, state: LiveState, results: TestResults | None, out: Path
) -> list[str]:
    streams = state.of("InsightStream")
    lines = [*header(capability, state), *objects_section(capability, state), "## Backend chosen", ""]
    rows = []
    for stream in streams:
        source = (stream.get("spec") or {}).get("source") or {}
        kind = source.get("type")
        where = source.get(kind) or {} if isinstance(kind, str) else {}
        rows.append((name_of(stream), kind, json.dumps(where, sort_keys=True)))
    lines += [*markdown_table(("stream", "source", "settings"), rows), ""] if rows else ["No streams.", ""]
    lines += ["## Health output and metrics excerpt", ""]
    for probe in state.workers:
        lines += [f"### {probe.stream} ({probe.url or 'no address'})", ""]
        if probe.error:
            lines += [f"Not read: {probe.error}.", ""]
            continue
        lines += [
            "`GET /health`:",
            "",
            *_code(probe.health or "", "json"),
            "`GET /metrics` (naksha_insight_*):",
            "",
        ]
        lines += _code("\n".join((probe.metrics or "").splitlines()[:40]))
    if not state.workers:
        lines += ["No worker to read.", ""]
    lines += ["## Detectors", ""]
    detector_rows: list[tuple[Any, ...]] = []
    for stream in streams:
        live = status_of(stream).get("detectors") or {}
        last = status_of(stream).get("lastAnomaly") or {}
        for detector in (stream.get("spec") or {}).get("detectors") or []:
            name = detector.get("name")
            now = live.get(name) or {}
            detector_rows.append(
                (
                    name_of(stream),
                    name,
                    detector.get("method"),
                    detector.get("metric"),
                    now.get("active"),
                    (last.get(name) or {}).get("value"),
                    (last.get(name) or {}).get("detectedAt"),
                )
            )
    lines += [
        *markdown_table(
            ("stream", "detector", "method", "metric", "active", "last anomaly", "at"), detector_rows
        ),
        "",
    ]
    counters = [
        (name_of(s), *(status_of(s).get(k) for k in ("ingested", "rejected", "anomalies", "agentRuns")))
        for s in streams
    ]
    lines += [*markdown_table(("stream", "ingested", "rejected", "anomalies", "agentRuns"), counters), ""]
    anomalies = []
    for stream in streams:
        name = stream["metadata"]["name"]
        marks = []
        for run in state.of("AgentRun"):
            signal = (run.get("spec") or {}).get("signal") or {}
            when = plots.parse_time(signal.get("detectedAt"))
            if signal.get("stream") == name and when:
                marks.append((when, f"{signal.get('detector')} → run", "Warning"))
        for detector, anomaly in (status_of(stream).get("lastAnomaly") or {}).items():
            when = plots.parse_time((anomaly or {}).get("detectedAt"))
            if when and all(abs((when - m[0]).total_seconds()) > 0.5 for m in marks):
                marks.append((when, str(detector), "Warning"))
        anomalies.append((name_of(stream), sorted(marks)))
    picture = plots.event_timeline(
        anomalies,
        "Anomalies: those that started an AgentRun, and each detector's last",
        out / "D.1_anomalies.png",
    )
    lines += ["## Timeline", "", *_image(picture, "anomalies over time", "No anomaly started a run.")]
    lines += [*events_section(capability, state), *tests_section(capability, results)]
    blocked = ["No Prometheus server scrapes the workers here; their `/metrics` is read directly."]
    kafka = [s for s in streams if ((s.get("spec") or {}).get("source") or {}).get("type") == "kafka"]
    if any("127." in json.dumps(s["spec"]["source"]) for s in kafka):
        blocked.append(
            "The Kafka-protocol broker is tansu on loopback (memory storage, no TLS or SASL); the test "
            "suite's Kafka tests run on Apache Kafka in CI. Kafka over TLS did not run here."
        )
    if on_local_plane(state):
        blocked.append(LOCAL_PODS)
    return lines + blocked_section(blocked)


def agent_runs(capability: Capability, state: LiveState, results: TestResults | None, out: Path) -> list[str]:
    runs = state.of("AgentRun")
    lines = [*header(capability, state), *objects_section(capability, state), "## Outcomes", ""]
    rows: list[tuple[Any, ...]] = []
    for run in runs:
        outcome = status_of(run).get("outcome") or {}
        rows.append(
            (
                name_of(run),
                (run.get("spec") or {}).get("playbook") or outcome.get("playbook"),
                status_of(run).get("phase"),
                outcome.get("resolved"),
                ", ".join(outcome.get("actions") or []),
                outcome.get("timeToDetectSeconds"),
                outcome.get("timeToActSeconds"),
                outcome.get("timeToRecoverSeconds"),
            )
        )
    headings = ("run", "playbook", "phase", "resolved", "actions", "detect s", "act s", "MTTR s")
    lines += [*markdown_table(headings, rows), ""]
    lines += ["## Checkpoints", ""]
    for run in runs:
        status = status_of(run)
        lines += [
            f"### {name_of(run)}",
            "",
            f"Signal: `{json.dumps((run.get('spec') or {}).get('signal') or {}, sort_keys=True)}`",
            "",
            f"Step count {status.get('stepCount')}, current node `{status.get('currentNode')}`, "
            f"started {status.get('startedAt')}.",
            "",
        ]
        steps = [
            (s.get("node"), s.get("type"), s.get("started"), s.get("finished"), json.dumps(s.get("result")))
            for s in status.get("steps") or []
        ]
        lines += [*markdown_table(("node", "type", "started", "finished", "result"), steps), ""]
        for key, action in (status.get("actions") or {}).items():
            lines.append(
                f"- action `{key}`: {action.get('wpk')} {json.dumps(action.get('plan'), sort_keys=True)}"
            )
        lines.append("")
    picture = plots.agent_run_timeline(runs, out / "D.2_agentrun_timeline.png")
    lines += ["## Timeline", "", *_image(picture, "anomaly → act → recover", "No run has recorded steps.")]
    lines += [*events_section(capability, state), *tests_section(capability, results)]
    blocked = []
    if on_local_plane(state):
        blocked += [LOCAL_PODS, "AgentRuns with the Job executor run in such local processes too."]
    if any((r.get("spec") or {}).get("dryRun") for r in runs):
        blocked.append("Runs with `dryRun: true` planned their actions and applied none.")
    return lines + blocked_section(blocked)


def rollouts(capability: Capability, state: LiveState, results: TestResults | None, out: Path) -> list[str]:
    items = state.of("Rollout")
    lines = [*header(capability, state), *objects_section(capability, state), "## Rollout history", ""]
    for rollout in items:
        status = status_of(rollout)
        lines += [
            f"### {name_of(rollout)}",
            "",
            f"Phase {status.get('phase')}, stable revision `{status.get('stableRevision')}`, current "
            f"`{status.get('currentRevision')}`, canary weight {status.get('canaryWeight')}%.",
            "",
            "Revisions kept: " + ", ".join(revision_text(r) for r in status.get("revisions") or []),
            "",
        ]
        rollback = status.get("rollback") or {}
        if rollback:
            gitops = rollback.get("gitops") or {}
            lines += markdown_table(
                ("rolled back", "to", "at", "reason", "spec reverted", "revert commit"),
                [
                    (
                        rollback.get("badRevision"),
                        rollback.get("stableRevision"),
                        when_text(rollback.get("at")),
                        rollback.get("reason"),
                        rollback.get("specReverted"),
                        gitops.get("commit") or gitops.get("error"),
                    )
                ],
            )
            lines.append("")
        for metric, record in (status.get("analysis") or {}).items():
            lines.append(f"- analysis `{metric}`: `{json.dumps(record, sort_keys=True)}`")
        lines.append("")
    timeline = [
        (
            name_of(r),
            [
                (when, str(e.get("reason")), str(e.get("type")))
                for e in state.events_of("Rollout", r["metadata"].get("namespace", ""), r["metadata"]["name"])
                if e.get("reason") != "Logging" and (when := plots.parse_time(event_time(e)))
            ],
        )
        for r in items
    ]
    picture = plots.event_timeline(
        timeline, "Rollouts: started, promoted, rolled back", out / "D.6_rollouts.png"
    )
    lines += ["## Timeline", "", *_image(picture, "rollout events over time", "No Rollout Events.")]
    lines += [*events_section(capability, state), *tests_section(capability, results)]
    blocked = []
    if any(
        ((r.get("spec") or {}).get("gitops") or {}).get("repo", "").startswith(("file://", "/"))
        for r in items
    ):
        blocked.append(
            "The GitOps remote is a local bare repository and no Argo CD or Flux runs: the demo applies "
            "the repository's manifest with kubectl, as such an agent would."
        )
    if on_local_plane(state):
        blocked.append(LOCAL_PODS)
    return lines + blocked_section(blocked)


def revision_text(revision: dict[str, Any]) -> str:
    """A kept revision and the images of its template."""
    containers = ((revision.get("template") or {}).get("spec") or {}).get("containers") or []
    images = ", ".join(str(c.get("image")) for c in containers)
    return f"`{revision.get('revision')}` ({images})" if images else f"`{revision.get('revision')}`"


def when_text(value: Any) -> str:
    """Epoch seconds (as the rollback records them) in UTC; anything else as it is."""
    if isinstance(value, int | float):
        return stamp(float(value))
    return "" if value is None else str(value)


PROMISES: dict[str, tuple[str, ...]] = {
    "ModelVersion": (
        "training runs (Jobs) with their data windows, model artifacts with checksums and metrics",
        "evaluation against thresholds, promotion of an alias, the model the next AgentRun used",
    ),
    "EdgeNode": (
        "the hub's registry of edge nodes (identity, capabilities, heartbeats, Ready)",
        "security notes: JWT audience and expiry, signed triggers, revocation, allow-listed commands",
    ),
    "ChaosExperiment": (
        "chaos journals (steady state, fault, expected remediation) and their verdicts",
        "time to detect and to recover per run, and the recovery's validation",
    ),
}
BLOCKED_ALWAYS: dict[str, tuple[str, ...]] = {
    "ChaosExperiment": (
        "Network faults (latency, loss, partition) cannot be injected on the local control plane: "
        "its pods' network is userspace forwarding, without traffic control.",
    ),
}


def not_yet_built(
    capability: Capability, state: LiveState, results: TestResults | None, out: Path
) -> list[str]:
    """A capability without its controller: its objects and Events as they stand, and
    what is missing, said plainly."""
    lines = [*header(capability, state)]
    if not capability.built():
        lines += not_built(capability, PROMISES.get(capability.kind, ()))
    lines += [*objects_section(capability, state), *events_section(capability, state)]
    lines += tests_section(capability, results)
    blocked = list(BLOCKED_ALWAYS.get(capability.kind, ()))
    if not capability.built():
        blocked.insert(0, f"{capability.kind}: no controller in this build; nothing of it ran.")
    return lines + blocked_section(blocked)


def when_built(renderer: Renderer) -> Renderer:
    """The capability's own report where its controller is in the build, else what is missing."""

    def render_built(
        capability: Capability, state: LiveState, results: TestResults | None, out: Path
    ) -> list[str]:
        chosen = renderer if capability.built() else not_yet_built
        return chosen(capability, state, results, out)

    return render_built


RENDERERS: dict[str, Renderer] = {
    "D.1": insight_streams,
    "D.2": agent_runs,
    "D.3": when_built(learning.model_versions),
    "D.4": when_built(federation.edge_nodes),
    "D.5": when_built(chaos.chaos_experiments),
    "D.6": rollouts,
}


def render(capability: Capability, state: LiveState, results: TestResults | None, out: Path) -> str:
    return "\n".join(RENDERERS[capability.report](capability, state, results, out)).rstrip() + "\n"
