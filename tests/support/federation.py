"""Real federation processes for tests: ``naksha hub``, ``naksha edge-agent``, and a loopback TCP proxy
whose blackout makes the hub unreachable for an agent (and back)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from kubernetes import client
from tests.support import ROOT, eventually, free_port

from naksha.domain.federation import requests as trigger_requests
from naksha.domain.federation import tokens


class NakshaProcess:
    """One ``naksha`` subcommand as a real process, its output in a log file."""

    def __init__(self, log: Path, args: list[str], env: dict[str, str]) -> None:
        self.log = log
        self.args = args
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NakshaProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "naksha", *self.args],
                env={**os.environ, "PYTHONPATH": str(ROOT / "operator"), **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        eventually(lambda: text in self.output(), timeout=timeout, interval=0.1)


def start_hub(directory: Path, kubeconfig: Path, namespace: str, port: int, **env: str) -> NakshaProcess:
    port_file = directory / "hub.port"
    port_file.unlink(missing_ok=True)
    hub = NakshaProcess(
        directory / "hub.log",
        [
            "hub",
            "--namespace",
            namespace,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--self-signed",
            str(directory / "tls"),
            "--port-file",
            str(port_file),
        ],
        {"KUBECONFIG": str(kubeconfig), **env},
    ).start()
    eventually(port_file.exists, timeout=90, interval=0.2)
    return hub


class TcpProxy:
    """Forwards 127.0.0.1:port to a target port; ``blackout`` drops every connection and refuses new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.blackout = threading.Event()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.blackout.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while not self.blackout.is_set():
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for each in (source, sink):
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)
                each.close()
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)

    def cut(self) -> None:
        self.blackout.set()
        with self._lock:
            for each in list(self._sockets):
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.blackout.clear()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._server.close()


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), {})


GROUP, VERSION = "naksha.io", "v1alpha1"
AGENT_CONFIG = """
capabilities: [run-command, collect-diagnostics]
commands:
  greet:
    argv: ["/bin/echo", "hello", "{name}"]
    params: {name: "[a-z]{1,16}"}
  pause:
    argv: ["/bin/sleep", "{seconds}"]
    params: {seconds: "[0-9]"}
  mark-then-pause:
    argv: ["/bin/sh", "-c", "echo ran >> MARKS; sleep 6"]
"""


class Federation:
    def __init__(self, root: Path, kubeconfig: Path, namespace: str, api: client.ApiClient) -> None:
        self.root = root
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.hub_port = free_port()
        self.hub: NakshaProcess | None = None
        self.proxy: TcpProxy | None = None
        self.agent: NakshaProcess | None = None
        self.state_dir = root / "edge-1-state"
        self.agent_starts = 0

    @property
    def ca(self) -> str:
        return str(self.root / "tls" / "tls.crt")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.hub_port}"

    def start_hub(self) -> None:
        self.hub = start_hub(
            self.root,
            self.kubeconfig,
            self.namespace,
            self.hub_port,
            NAKSHA_HUB_BODY_TIMEOUT="2",
            NAKSHA_HUB_REDELIVER_AFTER="3",
            NAKSHA_HUB_BURST_PER_ADDRESS="1000",
            NAKSHA_HUB_RATE_PER_ADDRESS="500",
        )

    def naksha(self, *args: str) -> str:
        env = {
            "KUBECONFIG": str(self.kubeconfig),
            "PYTHONPATH": str(ROOT / "operator"),
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            [sys.executable, "-m", "naksha", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def bootstrap_token(self, node: str) -> str:
        return self.naksha(
            "edge", "bootstrap-token", "--node", node, "--ttl", "10m", "-n", self.namespace
        ).strip()

    def node(self, name: str) -> dict[str, Any]:
        return dict(
            self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, "edgenodes", name)
        )

    def node_names(self) -> set[str]:
        items = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, "edgenodes")[
            "items"
        ]
        return {item["metadata"]["name"] for item in items}

    def create_node(self, name: str, **spec: Any) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "EdgeNode",
            "metadata": {"name": name},
            "spec": {"identity": {"nodeId": name}, **spec},
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "edgenodes", body)

    def post(
        self, path: str, body: Any = None, *, token: str | None = None, raw: bytes | None = None
    ) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else json.dumps(body).encode()
        return requests.post(self.url + path, data=data, headers=headers, verify=self.ca, timeout=30)

    def register(self, node: str, token: str, key: tokens.PrivateKey | None = None) -> requests.Response:
        key = key or tokens.generate_key()
        return self.post("/federation/register", registration(node, token, key))

    def trigger(self, node: str, wpk: str, params: dict[str, Any]) -> str:
        key = uuid.uuid4().hex
        body = trigger_requests.build_request(
            namespace=self.namespace,
            node=node,
            wpk=wpk,
            params=params,
            run={"namespace": self.namespace, "name": f"run-{key[:6]}", "act": "act"},
            idempotency_key=key,
            ttl_seconds=120,
        )
        self.core.create_namespaced_config_map(self.namespace, body)
        return str(body["metadata"]["name"])

    def result(self, name: str) -> dict[str, Any] | None:
        data = self.core.read_namespaced_config_map(name, self.namespace).data or {}
        return json.loads(data["result"]) if data.get("result") else None

    def credential(self) -> str:
        return str(json.loads((self.state_dir / "identity.json").read_text())["credential"])

    def start_agent(self) -> NakshaProcess:
        assert self.proxy is not None
        self.agent_starts += 1
        self.agent = NakshaProcess(
            self.root / f"agent-{self.agent_starts}.log",
            [
                "edge-agent",
                "--hub",
                f"https://127.0.0.1:{self.proxy.port}",
                "--bootstrap-token",
                str(self.root / "bootstrap-edge-1"),
                "--state-dir",
                str(self.state_dir),
                "--config",
                str(self.root / "agent.yaml"),
                "--ca",
                self.ca,
                "--poll-wait",
                "5",
            ],
            {},
        ).start()
        return self.agent


def registration(node: str, token: str, key: tokens.PrivateKey) -> dict[str, Any]:
    return {
        "bootstrapToken": token,
        "node": node,
        "publicKey": tokens.public_pem(key.public_key()),
        "proof": tokens.mint_proof(key, node=node, use="register", now=time.time()),
        "capabilities": ["run-command"],
        "agentVersion": "test",
    }


@contextlib.contextmanager
def federation_running(control_plane: Any, api_client: client.ApiClient, root: Path) -> Iterator[Federation]:
    """A namespace with EdgeNode ``edge-1`` (1 s heartbeats, Unknown after 4 s, 12 s credentials),
    a hub, a proxy in front of it, and an agent registered through the proxy."""
    namespace = f"fed-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    fed = Federation(root, Path(control_plane.kubeconfig_path), namespace, api_client)
    fed.create_node(
        "edge-1",
        heartbeatInterval="1s",
        offlineAfter="4s",
        credentials={"tokenTtl": "12s", "rotationInterval": "4s"},
    )
    fed.start_hub()
    fed.proxy = TcpProxy(fed.hub_port)
    (fed.root / "bootstrap-edge-1").write_text(fed.bootstrap_token("edge-1"))
    (fed.root / "agent.yaml").write_text(AGENT_CONFIG.replace("MARKS", str(root / "marks")))
    fed.start_agent()
    try:
        yield fed
    finally:
        for process in (fed.agent, fed.hub):
            if process is not None:
                process.stop()
        fed.proxy.close()
        core.delete_namespace(namespace)
