"""The node agent: one Node of a real API server, running the pods bound to it.

It does what a kubelet does for the API and nothing more: registers its Node (capacity,
addresses, the port of its log server), keeps the Node's Lease fresh so the node lifecycle
controller keeps it Ready, watches the pods bound to it (``spec.nodeName``), runs them with the
local kubelet's pod runner (``naksha`` containers as processes, other images simulated),
reports their status through ``pods/status``, and finishes deletions: a pod marked for deletion
is stopped, then deleted for good with a zero grace period. Deployments, ReplicaSets, Jobs,
garbage collection and scheduling are the real controllers' business.

Pods get what a kubelet gives them, through the same code as the emulator's kubelet: a token of
their ServiceAccount bound to the pod, from the TokenRequest API (``tokens``), renewed on disk
(``naksha.local.kubelet.credentials``) — never the agent's own admin identity — and their own
network namespace and 127/8 address (``naksha.local.network``) where the machine allows it.
Services are reached at the ClusterIPs the API server gave them, through the same node proxy as
on the emulator (``services``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import platform
import socket
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from naksha.local.apiserver import errors, portforwarding
from naksha.local.kubelet.credentials import CredentialSource
from naksha.local.kubelet.ownership import pod_phase
from naksha.local.kubelet.pods import PodRunner
from naksha.local.kubelet.readiness import probe_ports
from naksha.local.network import NodeNetwork
from naksha.local.nodeagent.logs import LogServer
from naksha.local.nodeagent.remote import Credentials, Remote, RemotePodApi, RequestFailed, follow
from naksha.local.nodeagent.services import ServiceFollower
from naksha.local.nodeagent.tokens import TokenRequestIssuer

logger = logging.getLogger(__name__)
NODE_NAME = "local-node"
LEASE_SECONDS = 40
RENEW_SECONDS = 10.0
NODE_STATUS_SECONDS = 60.0
# Generous capacity: the pods are processes on this machine; the scheduler should never run
# out of room on the one node there is.
CAPACITY = {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti"}


def _timestamp() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_timestamp() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeAgent:
    """``start()``/``stop()`` on the caller's event loop; ``runners`` holds the pods it runs.

    ``isolate=False`` runs pods on the host's loopback; ``host_ports`` are the host's
    ``127.0.0.1`` ports every pod reaches (the API server's).
    """

    def __init__(
        self,
        credentials: Credentials,
        serving: tuple[Path, Path],
        client_ca: Path,
        state_dir: Path,
        *,
        kubelet_version: str,
        node_name: str = NODE_NAME,
        isolate: bool = True,
        host_ports: tuple[int, ...] = (),
    ) -> None:
        self.remote = Remote(credentials)
        self.api = RemotePodApi(self.remote)
        self.pod_credentials = CredentialSource(
            TokenRequestIssuer(self.api), credentials.server, credentials.ca.read_bytes()
        )
        self.network = NodeNetwork(isolate=isolate, host_ports=host_ports)
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}  # as last seen, runners' or not
        self.services = ServiceFollower(self.remote, self.network, lambda: self.pods.values())
        self.state_dir = state_dir
        self.node_name = node_name
        self.kubelet_version = kubelet_version
        self.logs = LogServer(
            state_dir, serving=serving, client_ca=client_ca, port_forward=self._port_forward
        )
        self.runners: dict[tuple[str, str], PodRunner] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.registered = asyncio.Event()

    async def start(self) -> None:
        await self.remote.open()
        await self.network.start()
        await self.logs.start()
        self.api.start()
        await self._register()
        self.registered.set()
        self._tasks = [
            asyncio.create_task(self._heartbeat(), name="node-agent-heartbeat"),
            asyncio.create_task(self._follow_pods(), name="node-agent-pods"),
            asyncio.create_task(self.services.run(), name="node-agent-services"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(runner.stop() for runner in self.runners.values()), return_exceptions=True)
        self.runners.clear()
        await self.services.close()
        await self.network.close()
        await self.api.stop()
        await self.logs.stop()
        await self.remote.close()

    # --- the Node and its Lease -----------------------------------------------------------------

    def _node_status(self) -> dict[str, Any]:
        stamp = _timestamp()

        def condition(kind: str, status: str, reason: str) -> dict[str, str]:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": f"naksha node agent: {reason}",
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp,
            }

        return {
            "capacity": CAPACITY,
            "allocatable": CAPACITY,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                condition("Ready", "True", "KubeletReady"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.logs.port}},
            "nodeInfo": {
                "machineID": "naksha-local",
                "systemUUID": "naksha-local",
                "bootID": "naksha-local",
                "kernelVersion": platform.release(),
                "osImage": "naksha local node agent",
                "containerRuntimeVersion": "naksha-process://1",
                "kubeletVersion": self.kubelet_version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64" if platform.machine() in ("x86_64", "amd64") else "arm64",
            },
        }

    async def _register(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "node.kubernetes.io/instance-type": "naksha-local",
                },
            },
        }
        try:
            created = await self.remote.request("POST", "/api/v1/nodes", node)
        except RequestFailed as error:
            if error.status != 409:
                raise
            created = await self.remote.request("GET", f"/api/v1/nodes/{self.node_name}")
        await self._write_node_status()
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.node_name,
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Node",
                        "name": self.node_name,
                        "uid": created["metadata"]["uid"],
                    }
                ],
            },
            "spec": {
                "holderIdentity": self.node_name,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": _micro_timestamp(),
            },
        }
        with contextlib.suppress(RequestFailed):
            await self.remote.request(
                "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease
            )

    async def _write_node_status(self) -> None:
        await self.remote.request(
            "PATCH",
            f"/api/v1/nodes/{self.node_name}/status",
            {"status": self._node_status()},
            content_type="application/merge-patch+json",
        )

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        next_status = loop.time() + NODE_STATUS_SECONDS
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                await self.remote.request(
                    "PATCH",
                    f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node_name}",
                    {"spec": {"renewTime": _micro_timestamp()}},
                    content_type="application/merge-patch+json",
                )
                if loop.time() >= next_status:
                    await self._write_node_status()
                    next_status = loop.time() + NODE_STATUS_SECONDS
            except (RequestFailed, aiohttp.ClientError, TimeoutError) as error:
                logger.warning("node agent: heartbeat failed: %s", error)

    # --- pods -----------------------------------------------------------------------------------

    async def _follow_pods(self) -> None:
        """The pods bound to this node; after a relist, runners of pods that went are stopped."""

        async def forget_gone(present: set[tuple[str, str]]) -> None:
            for key in [key for key in self.runners if key not in present]:
                await self._forget(key)
            for key in [key for key in self.pods if key not in present]:
                del self.pods[key]

        selector = {"fieldSelector": f"spec.nodeName={self.node_name}"}
        await follow(self.remote, "/api/v1/pods", self._on_pod, forget_gone, selector)

    async def _on_pod(self, event_type: str, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self.pods.pop(key, None)
        else:
            self.pods[key] = pod  # what Services' endpoints are worked out from
        runner = self.runners.get(key)
        if runner is not None and runner.uid != meta["uid"]:
            await self._forget(key)
            runner = None
        if event_type == "DELETED":
            await self._forget(key)
            return
        if meta.get("deletionTimestamp"):
            await self._finish_deletion(pod)
            return
        finished = pod_phase(pod) in ("Succeeded", "Failed")
        if runner is not None and not finished:
            runner.update_soon(pod)  # a changed image restarts its container, as a kubelet does
        if runner is not None and finished and runner.network.isolated:
            # Nothing will run in it again: a finished pod keeps its status, not its namespace.
            await self.network.detach(runner.uid)
        if runner is None and not finished:
            await self._run(pod)

    async def _run(self, pod: dict[str, Any]) -> None:
        """Give the pod its network, then start its containers (which get their credentials as they start)."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        try:
            network = await self.network.attach(
                meta["uid"],
                meta["namespace"],
                meta["name"],
                ports=set().union(*(probe_ports(c) for c in spec.get("containers") or [])),
                host_network=bool(spec.get("hostNetwork")),
            )
        except OSError as error:
            logger.error("node agent: pod %s/%s gets no network: %s", meta["namespace"], meta["name"], error)
            return
        directory = self.state_dir / "pods" / meta["namespace"] / meta["name"]
        # The pod's own kubeconfig (written by its credentials), never the agent's.
        runner = PodRunner(
            self.api, pod, self.state_dir, directory / "kubeconfig", network, self.pod_credentials
        )
        self.runners[(meta["namespace"], meta["name"])] = runner
        await runner.start()

    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        """``kubectl port-forward``: the emulator's session, into the pod's network namespace."""
        key = (request.match_info["namespace"], request.match_info["pod"])
        pod, runner = self.pods.get(key), self.runners.get(key)
        if pod is None or runner is None:
            raise web.HTTPNotFound(text=f"pod {key[0]}/{key[1]} does not run on this node")

        async def open_port(_namespace: str, _name: str, port: int) -> socket.socket:
            return await runner.network.open(port)

        try:
            return await portforwarding.serve(request, pod, open_port)
        except errors.ApiError as error:
            return web.Response(status=error.code, text=error.message)

    async def _forget(self, key: tuple[str, str]) -> None:
        runner = self.runners.pop(key, None)
        if runner is not None:
            await runner.stop()
            await self.network.detach(runner.uid)
        self.api.forget(*key)

    async def _finish_deletion(self, pod: dict[str, Any]) -> None:
        """Stop the pod's containers, then remove the pod (the last step of a graceful delete)."""
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        await self._forget(key)
        if meta.get("deletionGracePeriodSeconds") == 0:
            return  # already deleted for good; finalizers (the Job controller's) hold it a moment
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
        with contextlib.suppress(RequestFailed):
            await self.remote.request("DELETE", f"/api/v1/namespaces/{key[0]}/pods/{key[1]}", body)
