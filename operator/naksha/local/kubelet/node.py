"""The local kubelet: Deployment and Job controllers plus the pods they start, on the emulator's loop.

It runs inside the API emulator's event loop and talks to its object service directly (no
HTTP), reacting to the store's watch events. Changes are coalesced: an event marks its object
(or the object's controller) dirty, and one worker reconciles dirty objects in order, so a
burst of pod status updates causes one Deployment status write, not one per update.
Each pod gets its network from ``naksha.local.network`` before its containers start (its own
namespace and 127/8 address where the machine allows it) and gives it back when it goes;
Services get a ClusterIP served by the node's proxy (``services.ServiceController``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import socket
from pathlib import Path
from typing import Any

from naksha.local.apiserver import errors
from naksha.local.apiserver.objects import ObjectService
from naksha.local.apiserver.resources import ResourceDef
from naksha.local.apiserver.store import Subscriber, WatchEvent
from naksha.local.apiserver.tables import now
from naksha.local.kubelet.credentials import CredentialSource
from naksha.local.kubelet.deployments import plan_deployment
from naksha.local.kubelet.jobs import plan_job, select_own_pods
from naksha.local.kubelet.ownership import controller_ref, pod_phase
from naksha.local.kubelet.pods import PodRunner
from naksha.local.kubelet.readiness import probe_ports
from naksha.local.kubelet.services import ServiceController
from naksha.local.network import NodeNetwork

logger = logging.getLogger(__name__)
NODE_NAME = "local-node"
Key = tuple[str, str, str]  # (kind, namespace, name)


class Kubelet:
    """Started and stopped on the emulator's loop; ``stop()`` ends every pod it runs.

    ``isolate=False`` runs pods on the host's loopback (what happens anyway without root);
    ``host_ports`` are the host's ``127.0.0.1`` ports every pod reaches (the API server's).
    """

    def __init__(
        self,
        api: ObjectService,
        state_dir: Path,
        kubeconfig: Path,
        credentials: CredentialSource | None = None,
        *,
        isolate: bool = True,
        host_ports: tuple[int, ...] = (),
    ) -> None:
        self.api = api
        self.network = NodeNetwork(isolate=isolate, host_ports=host_ports)
        self.service_controller = ServiceController(api, self.network)
        self.state_dir = state_dir
        self.kubeconfig = kubeconfig
        self.credentials = credentials  # pods act as their ServiceAccounts; None: as the kubeconfig's user
        self.runners: dict[tuple[str, str], PodRunner] = {}
        self._dirty: dict[Key, None] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._subscribers: list[Subscriber] = []
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self.pods = self._resource("", "v1", "pods")
        self.deployments = self._resource("apps", "v1", "deployments")
        self.jobs = self._resource("batch", "v1", "jobs")

    def _resource(self, group: str, version: str, plural: str) -> ResourceDef:
        resource = self.api.catalog.get(group, version, plural)
        assert resource is not None, plural
        return resource

    async def start(self) -> None:
        await self.network.start()
        await self.service_controller.start()
        for resource in (self.pods, self.deployments, self.jobs):
            subscriber = self.api.store.subscribe(resource.key, None)
            self._subscribers.append(subscriber)
            self._tasks.append(
                asyncio.create_task(self._follow(subscriber), name=f"kubelet-{resource.plural}")
            )
            for obj in list(self.api.store.items(resource.key)):
                self._mark(resource, obj)
        self._tasks.append(asyncio.create_task(self._work(), name="kubelet-worker"))

    async def stop(self) -> None:
        for subscriber in self._subscribers:
            self.api.store.unsubscribe(subscriber)
        for task in self._tasks:
            task.cancel()
        for timer in self._timers.values():
            timer.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(runner.stop() for runner in self.runners.values()), return_exceptions=True)
        self.runners.clear()
        await self.service_controller.stop()
        await self.network.close()

    async def _follow(self, subscriber: Subscriber) -> None:
        resource = self.api.catalog.by_key(subscriber.resource)
        assert resource is not None
        while True:
            event: WatchEvent = await subscriber.queue.get()
            if resource is self.pods:
                await self._on_pod(event)
            self._mark(resource, event.obj)

    def _mark(self, resource: ResourceDef, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if resource is self.pods:
            owner = controller_ref(obj)
            if owner is None or owner.get("kind") not in ("Deployment", "Job"):
                return
            key: Key = (owner["kind"], meta["namespace"], owner["name"])
        else:
            key = (resource.kind, meta["namespace"], meta["name"])
        self._dirty[key] = None
        self._wake.set()

    async def _on_pod(self, event: WatchEvent) -> None:
        meta = event.obj["metadata"]
        key = (meta["namespace"], meta["name"])
        runner = self.runners.get(key)
        if event.type == "DELETED" or meta.get("deletionTimestamp"):
            if runner is not None:
                del self.runners[key]
                await self._end(runner)
            return
        if runner is not None and runner.uid != meta["uid"]:
            del self.runners[key]
            await self._end(runner)
            runner = None
        finished = pod_phase(event.obj) in ("Succeeded", "Failed")
        if runner is not None and not finished:
            runner.update_soon(event.obj)  # a changed image restarts its container, as a kubelet does
        if runner is not None and finished and runner.network.isolated:
            # Nothing will run in it again: a finished pod keeps its status, not its namespace.
            await self.network.detach(runner.uid)
        if runner is None and not finished:
            bound = self._bind(event.obj)
            if bound is None:
                return
            spec = bound.get("spec") or {}
            try:
                network = await self.network.attach(
                    meta["uid"],
                    meta["namespace"],
                    meta["name"],
                    ports=set().union(*(probe_ports(c) for c in spec.get("containers") or [])),
                    host_network=bool(spec.get("hostNetwork")),
                )
            except OSError as error:
                logger.error("kubelet: pod %s/%s gets no network: %s", meta["namespace"], meta["name"], error)
                return
            runner = PodRunner(self.api, bound, self.state_dir, self.kubeconfig, network, self.credentials)
            self.runners[key] = runner
            await runner.start()

    async def open_pod_port(self, namespace: str, name: str, port: int) -> socket.socket:
        """A connection to a port of a pod this kubelet runs (``kubectl port-forward``)."""
        runner = self.runners.get((namespace, name))
        if runner is None:
            raise OSError(f"pod {namespace}/{name} does not run on this node")
        return await runner.network.open(port)

    async def _end(self, runner: PodRunner) -> None:
        """Stop the pod's processes, then take its network back (namespace, address, forwarders)."""
        await runner.stop()
        await self.network.detach(runner.uid)

    def _bind(self, pod: dict[str, Any]) -> dict[str, Any] | None:
        """Place the pod on the local node, as the scheduler would."""
        if (pod.get("spec") or {}).get("nodeName"):
            return pod
        meta = pod["metadata"]

        def place(current: dict[str, Any]) -> dict[str, Any]:
            current.setdefault("spec", {})["nodeName"] = NODE_NAME
            return current

        try:
            return self.api.patch(self.pods, meta["namespace"], meta["name"], place)
        except errors.ApiError:
            return None

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Let a burst of events land before reconciling once for all of them.
            await asyncio.sleep(0.01)
            while self._dirty:
                key = next(iter(self._dirty))
                del self._dirty[key]
                try:
                    self._reconcile(key)
                except errors.ApiError as error:
                    logger.debug("kubelet: %s %s/%s: %s; retrying", *key, error)
                    self._later(key, 0.5)
                except Exception:
                    logger.exception("kubelet: reconciling %s %s/%s failed", *key)
                    self._later(key, 2.0)

    def _later(self, key: Key, delay: float) -> None:
        previous = self._timers.pop(key, None)
        if previous is not None:
            previous.cancel()

        def due() -> None:
            self._timers.pop(key, None)
            self._dirty[key] = None
            self._wake.set()

        self._timers[key] = asyncio.get_running_loop().call_later(max(delay, 0.01), due)

    def _reconcile(self, key: Key) -> None:
        kind, namespace, name = key
        resource = self.deployments if kind == "Deployment" else self.jobs
        obj = self.api.store.get(resource.key, namespace, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        pods = self._owned_pods(obj)
        if kind == "Deployment":
            plan = plan_deployment(obj, pods, now())
            self._apply_pods(plan.create, plan.delete, namespace)
            self._write_status(resource, obj, plan.status)
            return
        if not (obj.get("spec") or {}).get("selector"):
            obj = self.api.patch(resource, namespace, name, select_own_pods)
        job_plan = plan_job(obj, pods, datetime.datetime.now(tz=datetime.UTC))
        self._apply_pods(job_plan.create, job_plan.delete, namespace)
        if job_plan.delete_job:
            self.api.delete(resource, namespace, name)
            return
        self._write_status(resource, obj, job_plan.status)
        if job_plan.requeue_after is not None:
            self._later(key, job_plan.requeue_after)

    def _owned_pods(self, owner: dict[str, Any]) -> list[dict[str, Any]]:
        pods = []
        for resource_key, namespace, name in self.api.store.dependents_of(owner["metadata"]["uid"]):
            if resource_key != self.pods.key:
                continue
            pod = self.api.store.get(resource_key, namespace, name)
            if pod is not None:
                pods.append(pod)
        return pods

    def _apply_pods(self, create: list[dict[str, Any]], delete: list[str], namespace: str) -> None:
        for name in delete:
            with contextlib.suppress(errors.ApiError):
                self.api.delete(self.pods, namespace, name)
        for pod in create:
            pod["spec"]["nodeName"] = NODE_NAME
            self.api.create(self.pods, namespace, pod)

    def _write_status(self, resource: ResourceDef, obj: dict[str, Any], status: dict[str, Any]) -> None:
        if obj.get("status") == status:
            return
        meta = obj["metadata"]
        self.api.patch(
            resource,
            meta["namespace"],
            meta["name"],
            lambda current: {**current, "status": status},
            subresource="status",
        )
