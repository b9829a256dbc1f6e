"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, and the node agent running the pods bound to its Node.

Same shape as ``naksha.local.LocalControlPlane`` (``start``/``stop``/``with``, ``url``,
``kubeconfig_path``, ``state_dir``, ``kubelet``), so tests and the CLI take either. The binaries
come from ``scripts/real-control-plane.sh`` (see ``naksha.local.real.binaries``). The API server
runs with RBAC; the kubeconfig it writes authenticates as an admin (client certificate in
``system:masters``); the controller manager and the scheduler have their own identities. Pods
never see the admin's: the node agent gives each its ServiceAccount's token (TokenRequest), its
own network namespace and address, and serves Services at the ClusterIPs allocated from
``service_range``.

The scheduler binds pods to the Node (rather than the node agent binding them itself) so pods
reach the node exactly as in a cluster: node selectors, taints and resource requests are
checked by the real scheduler, and the node agent stays a kubelet, which never binds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import ssl
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType

import yaml

from naksha.local.nodeagent import NodeAgent
from naksha.local.nodeagent.agent import NODE_NAME
from naksha.local.nodeagent.remote import Credentials
from naksha.local.ports import reserve_port
from naksha.local.real.binaries import Binaries, ensure
from naksha.local.real.pki import KeyPair, Pki, make_pki
from naksha.local.real.processes import ProcessFailed, ServerProcess, tail
from naksha.local.signals import wait_for_stop

logger = logging.getLogger(__name__)
START_TIMEOUT = 120.0
# Service addresses: a /24 of 127.102/16 per control plane, picked at random, so planes running
# side by side (and the pods' 127.100/16, the emulators' 127.101/16) rarely meet; the node agent's
# proxy takes each address's host-wide lock before it listens on it.
SERVICE_BLOCKS = "127.102.{}.0/24"


class RealControlPlane:
    """Start with ``start()`` or ``with``; ``stop()`` ends the pods, then the servers in reverse."""

    backend = "real"

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        kubeconfig: Path | None = None,
        kubelet: bool = True,
        binaries: Binaries | None = None,
        isolate_pods: bool = True,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="naksha-real-")
            state_dir = Path(self._tmp.name)
        self.state_dir = Path(state_dir).resolve()
        self.kubeconfig_path = Path(kubeconfig or self.state_dir / "kubeconfig").resolve()
        self.with_kubelet = kubelet
        self.isolate_pods = isolate_pods  # False: pods share the host's loopback (no network namespaces)
        self.binaries = binaries
        self.url = ""
        self.pki: Pki | None = None
        self.processes: list[ServerProcess] = []
        self.kubelet: NodeAgent | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.timings: dict[str, float] = {}
        self.service_range = SERVICE_BLOCKS.format(random.randrange(256))

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        began = time.monotonic()
        binaries = self.binaries or ensure(build=False)
        self.binaries = binaries
        self.state_dir.mkdir(parents=True, exist_ok=True)
        logs = self.state_dir / "logs"
        pki = self.pki = make_pki(self.state_dir / "pki", node_name=NODE_NAME)

        etcd_port, peer_port, api_port = reserve_port(), reserve_port(), reserve_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        etcd = self._spawn(
            "etcd",
            [
                str(binaries.etcd),
                "--name=naksha",
                f"--data-dir={self.state_dir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=naksha={peer_url}",
                "--unsafe-no-fsync",  # a throwaway store: durability costs time on a shared disk
                "--log-level=warn",
            ],
            logs,
        )
        etcd.wait_ready(lambda: b'"health":"true"' in _get(f"{etcd_url}/health"), 30)
        _age_etcd(etcd_url)
        self.timings["etcd"] = time.monotonic() - began

        self.url = f"https://127.0.0.1:{api_port}"
        apiserver = self._spawn(
            "kube-apiserver", self._apiserver_args(binaries, pki, etcd_url, api_port), logs
        )
        context = _client_context(pki.ca.cert, pki.admin)
        apiserver.wait_ready(lambda: _get(f"{self.url}/readyz", context) == b"ok", START_TIMEOUT)
        self.timings["apiserver"] = time.monotonic() - began

        self._write_kubeconfig(self.kubeconfig_path, pki.admin, "naksha-admin")
        manager_config = self._write_kubeconfig(
            self.state_dir / "controller-manager.kubeconfig", pki.controller_manager, "controller-manager"
        )
        scheduler_config = self._write_kubeconfig(
            self.state_dir / "scheduler.kubeconfig", pki.scheduler, "scheduler"
        )
        self._spawn(
            "kube-controller-manager",
            [
                str(binaries.kube_controller_manager),
                f"--kubeconfig={manager_config}",
                f"--authentication-kubeconfig={manager_config}",
                f"--authorization-kubeconfig={manager_config}",
                "--bind-address=127.0.0.1",
                f"--secure-port={reserve_port()}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca.cert}",
                "--cluster-name=naksha-local",
                "--v=1",
            ],
            logs,
        )
        self._spawn(
            "kube-scheduler",
            [
                str(binaries.kube_scheduler),
                f"--kubeconfig={scheduler_config}",
                f"--authentication-kubeconfig={scheduler_config}",
                f"--authorization-kubeconfig={scheduler_config}",
                "--bind-address=127.0.0.1",
                f"--secure-port={reserve_port()}",
                "--leader-elect=false",
                "--v=1",
            ],
            logs,
        )
        if self.with_kubelet:
            self._start_node_agent(pki, binaries.kube_version, api_port)
        # The controllers are up once the ServiceAccount controller made `default` in `default`
        # (pods are refused until their namespace has it).
        account = f"{self.url}/api/v1/namespaces/default/serviceaccounts/default"

        def controllers_ready() -> bool:
            dead = [p for p in self.processes if not p.alive]
            if dead:
                raise ProcessFailed(f"{dead[0].name} exited; {dead[0].log}:\n{tail(dead[0].log)}")
            return b'"name":"default"' in _get(account, context).replace(b" ", b"")

        apiserver.wait_ready(controllers_ready, START_TIMEOUT)
        self.timings["ready"] = time.monotonic() - began
        logger.info("real control plane ready at %s in %.1f s", self.url, self.timings["ready"])

    def _apiserver_args(self, binaries: Binaries, pki: Pki, etcd_url: str, port: int) -> list[str]:
        return [
            str(binaries.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={pki.apiserver.cert}",
            f"--tls-private-key-file={pki.apiserver.key}",
            f"--client-ca-file={pki.ca.cert}",
            "--authorization-mode=RBAC",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={self.service_range}",
            "--endpoint-reconciler-type=none",
            f"--kubelet-client-certificate={pki.apiserver_kubelet_client.cert}",
            f"--kubelet-client-key={pki.apiserver_kubelet_client.key}",
            f"--kubelet-certificate-authority={pki.ca.cert}",
            "--kubelet-preferred-address-types=InternalIP",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ]

    def _spawn(self, name: str, argv: list[str], logs: Path) -> ServerProcess:
        process = ServerProcess(name, argv, logs / f"{name}.log")
        process.start()
        self.processes.append(process)
        return process

    def _start_node_agent(self, pki: Pki, kube_version: str, api_port: int) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []
        credentials = Credentials(self.url, pki.ca.cert, pki.admin.cert, pki.admin.key)

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            agent = NodeAgent(
                credentials,
                (pki.node_serving.cert, pki.node_serving.key),
                pki.ca.cert,
                self.state_dir,
                kubelet_version=kube_version,
                isolate=self.isolate_pods,
                host_ports=(api_port,),  # pods reach the API at their kubeconfig's 127.0.0.1:<port>
            )
            try:
                loop.run_until_complete(agent.start())
            except BaseException as error:
                failure.append(error)
                ready.set()
                loop.run_until_complete(agent.stop())
                loop.close()
                return
            self.kubelet = agent
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(agent.stop())
                loop.close()

        self._thread = threading.Thread(target=run, name="naksha-node-agent", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT):
            raise ProcessFailed("the node agent did not register its Node in time")
        if failure:
            raise ProcessFailed(f"the node agent failed to start: {failure[0]}") from failure[0]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            loop = self._loop
            if not loop.is_closed():
                loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=30)
            self._loop = None
        self.kubelet = None
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RealControlPlane:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def run_forever(self) -> None:
        """Block until SIGINT or SIGTERM (or a server process dies), then stop."""

        def healthy() -> bool:
            dead = [p.name for p in self.processes if not p.alive]
            if dead:
                logger.error("stopping: %s exited (logs in %s)", ", ".join(dead), self.state_dir / "logs")
            return not dead

        try:
            wait_for_stop(healthy)
        finally:
            self.stop()

    # --- kubeconfigs ----------------------------------------------------------------------------

    def _write_kubeconfig(self, path: Path, identity: KeyPair, user: str) -> Path:
        assert self.pki is not None

        def data(file: Path) -> str:
            return base64.b64encode(file.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "naksha-real",
                    "cluster": {"server": self.url, "certificate-authority-data": data(self.pki.ca.cert)},
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": data(identity.cert),
                        "client-key-data": data(identity.key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "naksha-real",
                    "context": {"cluster": "naksha-real", "user": user, "namespace": "default"},
                }
            ],
            "current-context": "naksha-real",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path


def _age_etcd(etcd_url: str, writes: int = 10) -> None:
    """Give etcd a compacted past, as on a cluster that has been running.

    On an empty etcd the API server's watch caches start at resourceVersion 1, so a watch from
    "1" replays everything; on any cluster that has run a while (or restarted once) it gets 410
    Gone, which clients answer by relisting. A few writes outside the API server's prefix, then
    a compaction, make this control plane behave like the latter from its first start.
    """
    key = base64.b64encode(b"/naksha-local/age").decode()
    revision = 0
    for _ in range(writes):
        answer = json.loads(_post(f"{etcd_url}/v3/kv/put", {"key": key, "value": key}))
        revision = int(answer["header"]["revision"])
    _post(f"{etcd_url}/v3/kv/compaction", {"revision": str(revision), "physical": True})


def _post(url: str, body: dict[str, object]) -> bytes:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return bytes(response.read())


def _client_context(ca: Path, identity: KeyPair) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(identity.cert), str(identity.key))
    return context


def _get(url: str, context: ssl.SSLContext | None = None) -> bytes:
    # No proxy: the servers are on loopback, whatever the environment says.
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    with urllib.request.build_opener(*handlers).open(url, timeout=5) as response:
        return bytes(response.read())


__all__ = ["RealControlPlane"]
