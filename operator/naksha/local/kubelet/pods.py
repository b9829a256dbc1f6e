"""Pods of the local kubelet: ``naksha`` containers run as local processes, other images are simulated.

A container runs a ``naksha`` command when its ``command[0]`` is ``naksha`` or when it has no
command and its image's repository is named ``naksha`` (then ``args`` are the naksha
arguments). It runs as ``python -m naksha …`` with the container's environment, a kubeconfig that
authenticates as the pod's ServiceAccount (``credentials``), and its output in
``<state_dir>/pods/<namespace>/<pod>/<container>.log`` (served to ``kubectl logs``). Other
images are reported Running and Ready and never exit.
The process runs in the pod's network (``naksha.local.network``: its own namespace and 127/8
address, or the host's loopback as a fallback), and ``127.0.0.1:<port>`` endpoints named in its
environment or arguments reach the host's. Readiness (``readiness``): ``httpGet`` (HTTP or HTTPS,
unverified as the kubelet's) and ``tcpSocket`` probes are polled at the pod's address; ``exec``
probes are not run (the container counts as ready once started). A container that exited and
waits to be restarted is ``CrashLoopBackOff`` and not ready.
As a kubelet does, a changed container image in a running pod's spec (the one container field
the API lets change) stops that container and starts it again from the new image, counting a
restart. An image under the reserved ``.invalid`` domain cannot be pulled from anywhere: its
container waits in ``ErrImagePull``/``ImagePullBackOff``, not ready, as on any cluster.
An ``emptyDir`` volume is the directory ``<pod dir>/volumes/<name>`` (it outlives container
restarts, as on a node); since processes share the host's filesystem, nothing is mounted:
environment values that start with its ``mountPath`` are rewritten to that directory instead.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

from naksha.local.apiserver import errors
from naksha.local.apiserver.tables import now
from naksha.local.kubelet.credentials import CredentialSource, CredentialsUnavailable
from naksha.local.kubelet.podapi import PodApi
from naksha.local.kubelet.podstatus import PULL_FAILURES, ContainerRun, container_status, pod_status
from naksha.local.kubelet.readiness import check, resolve_ports
from naksha.local.network import PodNetwork
from naksha.local.network.pods import HOST_ADDRESS, host_ports_named

GRACE_CAP_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 10.0


class ConfigError(Exception):
    """The container cannot start as specified (CreateContainerConfigError)."""


def naksha_arguments(container: dict[str, Any]) -> list[str] | None:
    """The naksha CLI arguments this container runs, or None when it is not a naksha container."""
    command = [str(c) for c in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    if command:
        return [*command[1:], *args] if os.path.basename(command[0]) == "naksha" else None
    image = str(container.get("image") or "")
    repository = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    return args if repository == "naksha" else None


def unpullable(image: str) -> bool:
    """Whether the image's registry is under ``.invalid`` (RFC 2606: never resolves anywhere)."""
    first = image.split("/", 1)[0] if "/" in image else ""
    host = first.split(":", 1)[0]
    return "." in host and (host == "invalid" or host.endswith(".invalid"))


_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(argument: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in command and args; ``$$`` escapes, unknown names stay as written."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(substitute, argument)


class PodRunner:
    """Runs the containers of one pod and reports its status through the API."""

    def __init__(
        self,
        api: PodApi,
        pod: dict[str, Any],
        state_dir: Path,
        kubeconfig: Path,
        network: PodNetwork | None = None,
        credentials: CredentialSource | None = None,
    ) -> None:
        self.api = api
        self.network = network or PodNetwork(
            HOST_ADDRESS, reason="HostNetwork", message="on the host's loopback"
        )
        self.namespace = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.spec = pod.get("spec") or {}
        self.state_dir = state_dir
        self.kubeconfig = kubeconfig
        self.directory = state_dir / "pods" / self.namespace / self.name
        self.runs = {c["name"]: ContainerRun(c["name"]) for c in self.spec.get("containers") or []}
        # Without a credential source, pods share the control plane's own kubeconfig.
        self.credentials = credentials.for_pod(pod, self.directory) if credentials else None
        self.stopped = False
        self.started_at = now()
        self._updates = asyncio.Lock()
        self._update_tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for container in self.spec.get("containers") or []:
            run = self.runs[container["name"]]
            run.tasks.append(asyncio.create_task(self._supervise(container, run)))
        self.report()

    def update_soon(self, pod: dict[str, Any]) -> None:
        """Apply a newer version of the pod's spec in the background (the watch must not wait)."""
        task = asyncio.create_task(self.update(pod))
        self._update_tasks.add(task)
        task.add_done_callback(self._update_tasks.discard)

    async def update(self, pod: dict[str, Any]) -> None:
        """Restart, from their new image, the containers whose image changed in the pod's spec."""
        async with self._updates:
            if self.stopped:
                return
            wanted = {c.get("name"): c for c in (pod.get("spec") or {}).get("containers") or []}
            for container in self.spec.get("containers") or []:
                new = wanted.get(container["name"])
                if new is None or new.get("image") == container.get("image"):
                    continue
                await self._restart_with(container, str(new.get("image", "")))

    async def _restart_with(self, container: dict[str, Any], image: str) -> None:
        run = self.runs[container["name"]]
        for task in run.tasks:
            task.cancel()
        await asyncio.gather(*run.tasks, return_exceptions=True)
        run.tasks.clear()
        grace = min(float(self.spec.get("terminationGracePeriodSeconds", 30)), GRACE_CAP_SECONDS)
        await self._terminate(run, grace)
        code = run.process.returncode if run.process is not None else None
        if run.reason not in PULL_FAILURES:  # a container that never started is not restarted
            run.restarts += 1
            # Killed because its definition changed: as the kubelet reports it.
            exit_code = 137 if code is None or code < 0 else code
            run.last_state = {"terminated": {"exitCode": exit_code, "reason": "Error", "finishedAt": now()}}
        container["image"] = image
        run.process, run.ready, run.exit_code, run.reason = None, False, None, ""
        if self.stopped:
            return
        run.tasks.append(asyncio.create_task(self._supervise(container, run)))

    async def stop(self) -> None:
        self.stopped = True
        for update in list(self._update_tasks):
            update.cancel()
        if self.credentials is not None:
            self.credentials.close()
        grace = min(float(self.spec.get("terminationGracePeriodSeconds", 30)), GRACE_CAP_SECONDS)
        await asyncio.gather(*(self._terminate(run, grace) for run in self.runs.values()))
        tasks = [task for run in self.runs.values() for task in run.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def pids(self) -> list[int]:
        return [run.process.pid for run in self.runs.values() if run.process is not None]

    async def _supervise(self, container: dict[str, Any], run: ContainerRun) -> None:
        arguments = naksha_arguments(container)
        policy = self.spec.get("restartPolicy", "Always")
        image = str(container.get("image") or "")
        if unpullable(image):
            await self._fail_pulling(run, image)
            return
        if arguments is None:
            # Nothing runs behind a simulated container, so there is nothing a probe could reach.
            run.ready = True
            self.report()
            return  # it "runs" until its pod goes
        while not self.stopped:
            try:
                env = self._environment(container)
            except ConfigError as error:
                run.reason = "CreateContainerConfigError"
                run.exit_code = None
                self.report(message=str(error))
                await asyncio.sleep(2.0)
                continue
            expanded = [expand(argument, env) for argument in arguments]
            await self.network.allow_host_ports(host_ports_named([*env.values(), *expanded]))
            log = (self.directory / f"{run.name}.log").open("ab")
            try:
                run.process = await asyncio.create_subprocess_exec(
                    *self.network.command_prefix(),
                    sys.executable,
                    "-m",
                    "naksha",
                    *expanded,
                    env=env,
                    cwd=str(self.directory),
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            finally:
                log.close()
            run.exit_code, run.reason = None, ""
            probe = asyncio.create_task(self._probe_until_ready(container, run))
            self.report()
            try:
                code = await run.process.wait()
            finally:
                probe.cancel()  # also when an image change cancels this supervision
            run.ready, run.exit_code = False, code
            run.reason = "Completed" if code == 0 else "Error"
            if self.stopped:
                return
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                self.report()
                return
            run.restarts += 1
            backoff = min(2 ** (run.restarts - 1), BACKOFF_CAP_SECONDS)
            run.last_state = {"terminated": {"exitCode": code, "reason": run.reason, "finishedAt": now()}}
            run.reason = "CrashLoopBackOff"
            self.report(message=f"back-off {backoff}s restarting failed container={run.name} pod={self.name}")
            await asyncio.sleep(backoff)

    async def _fail_pulling(self, run: ContainerRun, image: str) -> None:
        """An image no registry serves: ErrImagePull, then back-off, until the spec changes again."""
        run.ready, run.exit_code = False, None
        attempt = 0
        while not self.stopped:
            run.reason = PULL_FAILURES[min(attempt, 1)]
            message = f'failed to pull image "{image}": the registry of an .invalid domain never resolves'
            self.report(message=message)
            await asyncio.sleep(min(2.0**attempt, BACKOFF_CAP_SECONDS))
            attempt += 1

    async def _probe_until_ready(self, container: dict[str, Any], run: ContainerRun) -> None:
        run.ready = await self._probe(container)
        self.report()

    async def _probe(self, container: dict[str, Any]) -> bool:
        probe = container.get("readinessProbe") or {}
        await asyncio.sleep(min(float(probe.get("initialDelaySeconds", 0)), 2.0))
        period = min(float(probe.get("periodSeconds", 1)), 1.0)
        while not self.stopped:
            if await check(resolve_ports(probe, container), self.network):
                return True
            await asyncio.sleep(period)
        return False

    async def _terminate(self, run: ContainerRun, grace: float) -> None:
        process = run.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    def _environment(self, container: dict[str, Any]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("KUBERNETES_SERVICE_HOST", "KUBECONFIG")}
        api = {"KUBECONFIG": str(self.kubeconfig)}
        if self.credentials is not None:
            try:
                api = self.credentials.environment()
            except CredentialsUnavailable as error:
                raise ConfigError(str(error)) from error
        env.update({**api, "PYTHONUNBUFFERED": "1", "HOSTNAME": self.name})
        volumes = self._empty_dirs(container)
        for entry in container.get("env") or []:
            value = self._env_value(entry)
            if value is not None:
                for mount_path, directory in volumes.items():
                    if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
                        value = str(directory) + value[len(mount_path.rstrip("/")) :]
                env[str(entry["name"])] = value
        return env

    def _empty_dirs(self, container: dict[str, Any]) -> dict[str, Path]:
        """The container's emptyDir mounts: mount path → the pod's directory for the volume."""
        empty = {v["name"] for v in self.spec.get("volumes") or [] if "emptyDir" in v}
        found = {}
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") in empty:
                directory = self.directory / "volumes" / str(mount["name"])
                directory.mkdir(parents=True, exist_ok=True)
                found[str(mount["mountPath"])] = directory
        return found

    def _env_value(self, entry: dict[str, Any]) -> str | None:
        if "value" in entry:
            return str(entry["value"])
        source = entry.get("valueFrom") or {}
        if "fieldRef" in source:
            path = source["fieldRef"].get("fieldPath", "")
            fields: dict[str, str] = {
                "metadata.name": self.name,
                "metadata.namespace": self.namespace,
                "metadata.uid": self.uid,
                "status.podIP": self.network.address,
                "status.hostIP": HOST_ADDRESS,
                "spec.nodeName": "local-node",
            }
            return fields.get(path, "")
        for key, resource in (("secretKeyRef", "secrets"), ("configMapKeyRef", "configmaps")):
            if key in source:
                ref = source[key]
                try:
                    resource_def = self.api.catalog.get("", "v1", resource)
                    assert resource_def is not None
                    data = self.api.get(resource_def, self.namespace, ref["name"]).get("data") or {}
                except errors.ApiError:
                    data = None
                if data is None or ref.get("key") not in data:
                    if ref.get("optional"):
                        return None
                    raise ConfigError(f"{resource[:-1]} {ref.get('name')!r} key {ref.get('key')!r} not found")
                raw = data[ref["key"]]
                return base64.b64decode(raw).decode() if resource == "secrets" else str(raw)
        return None

    def report(self, message: str = "") -> None:
        """Write the pod's status: phase, conditions, container states."""
        if self.stopped:
            return
        resource = self.api.catalog.get("", "v1", "pods")
        assert resource is not None
        containers = self.spec.get("containers") or []
        statuses = [
            container_status(container, self.runs[container["name"]], self.started_at, message)
            for container in containers
        ]
        status = pod_status(
            statuses,
            self.spec.get("restartPolicy", "Always"),
            address=self.network.address,
            started_at=self.started_at,
            network_condition=self.network.condition(),
        )
        with contextlib.suppress(errors.ApiError):
            self.api.patch(
                resource,
                self.namespace,
                self.name,
                lambda pod: {**pod, "status": status},
                subresource="status",
            )
