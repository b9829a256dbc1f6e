"""D.4, federation: the hub's registry of EdgeNodes, the triggers it signed and their results, the
security settings of each node as they stand, and the security notes of docs/federation.md.

The registry and the triggers are read from the live objects; the notes are the project's own
document, quoted from the source tree when the report runs inside it (an installed package has no
docs: the report then says where they are).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from naksha.report.capabilities import Capability
from naksha.report.common import (
    blocked_section,
    events_section,
    header,
    markdown_table,
    name_of,
    objects_section,
    on_local_plane,
    status_of,
    tests_section,
)
from naksha.report.junit import TestResults
from naksha.report.state import LiveState

DOCS = Path(__file__).resolve().parents[3] / "docs" / "federation.md"
NOTES_HEADING = "## Security notes"


def edge_nodes(capability: Capability, state: LiveState, results: TestResults | None, out: Path) -> list[str]:
    nodes = state.of("EdgeNode")
    lines = [*header(capability, state), *objects_section(capability, state), "## Registry", ""]
    rows = []
    for node in nodes:
        status = status_of(node)
        rows.append(
            (
                name_of(node),
                status.get("nodeId"),
                status.get("phase"),
                status.get("registeredTime"),
                status.get("lastHeartbeatTime"),
                status.get("agentVersion"),
                ", ".join(status.get("capabilities") or []),
                status.get("keyThumbprint"),
            )
        )
    headings = ("node", "id", "phase", "registered", "last heartbeat", "agent", "capabilities", "key")
    lines += [*markdown_table(headings, rows), ""] if rows else ["No EdgeNode registered.", ""]
    lines += [*triggers_section(state), *settings_section(nodes), *notes_section()]
    lines += [*events_section(capability, state), *tests_section(capability, results)]
    blocked = []
    if nodes and on_local_plane(state):
        blocked.append(
            "The hub and the edge agents here run on loopback with a self-signed certificate; no "
            "node sat behind a real NAT or on a lossy link (the tests cut the link with a TCP proxy)."
        )
    return lines + blocked_section(blocked)


def triggers_section(state: LiveState) -> list[str]:
    """Each signed trigger request: its node, command, jti, and the result the node reported."""
    lines = ["## Triggers and results", ""]
    if "edge-triggers" in state.errors:
        return [*lines, f"Could not be listed: {state.errors['edge-triggers']}", ""]
    rows: list[tuple[Any, ...]] = []
    for request in state.config_maps.get("edge-triggers", []):
        data = request.get("data") or {}
        try:
            run = json.loads(data.get("run") or "{}")
            params = json.loads(data.get("params") or "{}")
            result = json.loads(data["result"]) if data.get("result") else {}
        except ValueError:
            rows.append((name_of(request), data.get("node"), "unreadable", "", "", "", ""))
            continue
        rows.append(
            (
                name_of(request),
                data.get("node"),
                f"{run.get('namespace')}/{run.get('name')}",
                f"{data.get('wpk')} {json.dumps(params, sort_keys=True)}",
                data.get("jti") or "not signed yet",
                result.get("outcome") or result.get("status") or ("pending" if not result else ""),
                result.get("exitCode"),
            )
        )
    if not rows:
        return [*lines, "No trigger was requested.", ""]
    headings = ("request", "node", "AgentRun", "what", "jti (signed)", "result", "exit code")
    return [*lines, *markdown_table(headings, rows), ""]


def settings_section(nodes: list[dict[str, Any]]) -> list[str]:
    """What each node's spec says about its credentials and approval, as set on the cluster."""
    lines = ["## Security settings per node", ""]
    rows = []
    for node in nodes:
        spec = node.get("spec") or {}
        credentials = spec.get("credentials") or {}
        rows.append(
            (
                name_of(node),
                spec.get("approved", True),
                credentials.get("revoked", False),
                credentials.get("tokenTtl", "1h"),
                credentials.get("rotationInterval", "24h"),
                spec.get("unschedulable", False),
            )
        )
    if not rows:
        return [*lines, "No node.", ""]
    headings = ("node", "approved", "revoked", "credential TTL", "rotation", "cordoned")
    return [*lines, *markdown_table(headings, rows), ""]


def notes_section(docs: Path = DOCS) -> list[str]:
    """The security notes of docs/federation.md, demoted one heading level to sit in this report."""
    try:
        text = docs.read_text()
    except OSError:
        return ["## Security notes", "", f"docs/federation.md is not beside this install ({docs}).", ""]
    start = text.find(NOTES_HEADING)
    if start < 0:
        return ["## Security notes", "", f"{docs} has no '{NOTES_HEADING}' section.", ""]
    end = text.find("\n## ", start + len(NOTES_HEADING))
    section = text[start : end if end >= 0 else len(text)].strip().splitlines()
    body = [f"#{line}" if line.startswith("#") else line for line in section[1:]]
    return ["## Security notes (from docs/federation.md)", *body, ""]
