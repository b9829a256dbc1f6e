"""Scene 5, reach the edge: an edge agent registers with the hub, an AgentRun makes it act, signed.

The demo starts ``naksha hub`` (TLS with a self-signed certificate, on loopback) and one
``naksha edge-agent`` as processes, the agent with a bootstrap token signed by the hub's key and a
local allow-list of one command. The agent registers, its EdgeNode turns Ready from its
heartbeats; an AgentRun's ``edge-exec`` act asks for ``disk-usage``, the hub signs one trigger for
that node, the agent verifies it and runs the allowed argv (no shell), and ``edge-result``
records what it reported. Each line is read from the objects: the EdgeNode's status, the trigger
request (its token verified here against the hub's public key), the run's state.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from naksha.demo import processes
from naksha.demo.scene_remediate import ENDED, run_status
from naksha.demo.stage import Stage
from naksha.domain.federation import requests as trigger_requests
from naksha.domain.federation import tokens
from naksha.domain.federation.refusals import Refused
from naksha.kube import NotFound
from naksha.models.group import API_VERSION
from naksha.models.labels import EDGE_NODE_LABEL, EDGE_TRIGGER_LABEL
from naksha.models.resources import CONFIG_MAPS, EDGE_NODES
from naksha.services.hub.store import HubStore

NODE = "shop-17"
RUN = "shop-17-disk-usage"
COMMAND = "disk-usage"
PATH_ARGUMENT = "/tmp"
BOOTSTRAP_TTL_SECONDS = 600.0


@dataclass(frozen=True)
class EdgeOutcome:
    node: str
    node_phase: str
    key_thumbprint: str
    run: str
    run_phase: str
    edge_outcome: str
    exit_code: int | None
    output: str
    trigger_request: str
    trigger_jti: str
    trigger_verified: bool

    @property
    def ok(self) -> bool:
        """Registered and Ready; one verified trigger; the command ran and exited 0."""
        return (
            self.node_phase == "Ready"
            and bool(self.key_thumbprint)
            and self.trigger_verified
            and self.run_phase == "Succeeded"
            and self.edge_outcome == "Succeeded"
            and self.exit_code == 0
        )


def node_body(stage: Stage) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "EdgeNode",
        "metadata": {"name": NODE, "namespace": stage.namespace},
        "spec": {
            "identity": {"nodeId": NODE},
            "heartbeatInterval": "2s",
            "offlineAfter": "20s",
            "credentials": {"tokenTtl": "10m"},
        },
    }


def allow_list() -> dict[str, Any]:
    """The node's own allow-list: one command by name, its one parameter held to a pattern."""
    df = shutil.which("df") or "/bin/df"
    return {
        "capabilities": ["run-command"],
        "commands": {
            COMMAND: {"argv": [df, "-h", "{path}"], "params": {"path": "/[a-z/]{0,64}"}, "timeoutSeconds": 10}
        },
    }


def edge_run(stage: Stage) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "AgentRun",
        "metadata": {"name": RUN, "namespace": stage.namespace},
        "spec": {
            "target": {"apiVersion": API_VERSION, "kind": "EdgeNode", "name": NODE},
            "graph": {
                "start": "send",
                "nodes": [
                    {
                        "name": "send",
                        "type": "act",
                        "wpk": "edge-exec",
                        "params": {
                            "wpk": "run-command",
                            "params": {"command": COMMAND, "args": {"path": PATH_ARGUMENT}},
                        },
                        "next": "result",
                    },
                    {
                        "name": "result",
                        "type": "observe",
                        "wpk": "edge-result",
                        "params": {"act": "send", "timeout": "90s"},
                        "next": "done",
                    },
                    {"name": "done", "type": "end"},
                ],
            },
        },
    }


def run(stage: Stage) -> EdgeOutcome:
    say = stage.progress.say
    stage.kube.create(node_body(stage))
    say(f"EdgeNode {NODE} created (heartbeats every 2s, offline after 20s)")
    hub_url, ca = start_hub(stage)
    key = HubStore(stage.kube, stage.namespace).signing_key(create=False)
    token = tokens.mint_bootstrap(
        key, namespace=stage.namespace, node=NODE, ttl=BOOTSTRAP_TTL_SECONDS, now=time.time()
    )
    edge_dir = stage.state_dir / f"edge-{NODE}"
    # Every demo runs on a fresh control plane with a new hub key: an identity an earlier run's
    # agent kept under the same state directory names a node this hub never registered.
    shutil.rmtree(edge_dir / "state", ignore_errors=True)
    edge_dir.mkdir(parents=True, exist_ok=True)
    token_file = edge_dir / "bootstrap.token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    config = edge_dir / "agent.yaml"
    config.write_text(yaml.safe_dump(allow_list(), sort_keys=False))
    say(
        f"bootstrap token for {NODE} signed by the hub's key "
        f"(EdDSA, single use, {BOOTSTRAP_TTL_SECONDS:.0f}s)"
    )
    agent = processes.start(
        stage,
        f"edge-agent-{NODE}",
        [
            "edge-agent", "--hub", hub_url, "--ca", ca, "--bootstrap-token", str(token_file),
            "--state-dir", str(edge_dir / "state"), "--config", str(config), "--poll-wait", "5",
        ],
    )  # fmt: skip
    say(f"naksha edge-agent {NODE} started (pid {agent.pid}); allow-list: {COMMAND} = df -h {{path}}")
    log = stage.state_dir / f"edge-agent-{NODE}.log"

    def ready() -> dict[str, Any] | None:
        processes.alive(agent, "the edge agent", log)
        status = node_status(stage)
        return status if status.get("phase") == "Ready" else None

    status = stage.wait_for(f"EdgeNode {NODE} to be Ready", ready)
    assert isinstance(status, dict)
    say(
        f"EdgeNode {NODE} registered at {status.get('registeredTime')} (key {status.get('keyThumbprint')}), "
        f"Ready; last heartbeat {status.get('lastHeartbeatTime')}, agent {status.get('agentVersion')}, "
        f"capabilities {', '.join(status.get('capabilities') or [])}"
    )
    stage.kube.create(edge_run(stage))
    say(f"AgentRun {RUN}: edge-exec run-command {COMMAND} path={PATH_ARGUMENT} on {NODE}")
    request = stage.wait_for("the hub to sign the trigger", lambda: signed_request(stage))
    assert isinstance(request, trigger_requests.TriggerRequest)
    verified = verify(request, key.public_key(), stage.namespace)
    say(
        f"trigger {request.name} signed by the hub: jti {request.jti}, audience "
        f"{tokens.trigger_audience(stage.namespace, NODE)}; signature checked here: {verified}"
    )
    ended = stage.wait_for(
        f"AgentRun {RUN} to end", lambda: (s := run_status(stage, RUN)).get("phase") in ENDED and s
    )
    assert isinstance(ended, dict)
    state = dict(ended.get("state") or {})
    output = str(state.get("edgeOutput") or "")
    say(
        f"{NODE} ran {COMMAND}: {state.get('edgeOutcome')}, exit code {state.get('edgeExitCode')}; "
        f"AgentRun {RUN} {ended.get('phase')}"
    )
    stage.progress.block(output)
    final = node_status(stage)
    return EdgeOutcome(
        node=NODE,
        node_phase=str(final.get("phase")),
        key_thumbprint=str(final.get("keyThumbprint") or ""),
        run=RUN,
        run_phase=str(ended.get("phase")),
        edge_outcome=str(state.get("edgeOutcome")),
        exit_code=state.get("edgeExitCode"),
        output=output,
        trigger_request=request.name,
        trigger_jti=request.jti,
        trigger_verified=verified.startswith("valid"),
    )


def start_hub(stage: Stage) -> tuple[str, str]:
    """``naksha hub`` on a free loopback port with a self-signed certificate: its URL and CA file."""
    tls = stage.state_dir / "hub-tls"
    port_file = stage.state_dir / "hub.port"
    port_file.unlink(missing_ok=True)
    hub = processes.start(
        stage,
        "hub",
        [
            "hub", "--namespace", stage.namespace, "--host", "127.0.0.1", "--port", "0",
            "--self-signed", str(tls), "--port-file", str(port_file),
        ],
    )  # fmt: skip
    log = stage.state_dir / "hub.log"

    def port() -> str | None:
        processes.alive(hub, "the hub", log)
        return port_file.read_text().strip() if port_file.exists() and port_file.read_text().strip() else None

    url = f"https://127.0.0.1:{stage.wait_for('the hub to serve', port)}"
    stage.urls["hub"] = url
    stage.progress.say(f"naksha hub serving EdgeNodes of {stage.namespace} at {url} (pid {hub.pid}, TLS)")
    return url, str(tls / "tls.crt")


def node_status(stage: Stage) -> dict[str, Any]:
    try:
        return dict(stage.kube.get(EDGE_NODES, stage.namespace, NODE).get("status") or {})
    except NotFound:
        return {}


def signed_request(stage: Stage) -> trigger_requests.TriggerRequest | None:
    selector = f"{EDGE_TRIGGER_LABEL},{EDGE_NODE_LABEL}={NODE}"
    for body in stage.kube.list(CONFIG_MAPS, stage.namespace, label_selector=selector):
        request = trigger_requests.read_request(body)
        if request.token and request.run.get("name") == RUN:
            return request
    return None


def verify(request: trigger_requests.TriggerRequest, hub_key: Ed25519PublicKey, namespace: str) -> str:
    """The trigger's token checked as the agent checks it (signature, kind, audience, expiry)."""
    try:
        verified = tokens.verify(
            request.token,
            hub_key,
            kind=tokens.TRIGGER,
            audience=tokens.trigger_audience(namespace, NODE),
            now=time.time(),
        )
    except Refused as refused:
        return f"refused ({refused})"
    return f"valid EdDSA, expires in {verified.expires - time.time():.0f}s"
