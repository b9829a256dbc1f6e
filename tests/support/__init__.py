"""Helpers shared by the tests: polling, free ports, the real kubectl, git; one module per area beside it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from naksha.local.ports import reserve_port

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback port nobody listens on now, reserved for this test process on the whole machine
    (``naksha.local.ports``: below the ephemeral range, locked against every other session and the
    control planes, brokers and operators they start)."""
    return reserve_port()


def event_reasons(core: client.CoreV1Api, namespace: str, name: str) -> set[str]:
    """The reasons of the Events about the object ``name``. kopf posts a pass's Events after the
    pass, so one can follow the status by a moment: poll this with ``eventually``."""
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    return {event.reason for event in events}


def eventually(check: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns a truthy value without raising; fail with the last error."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (AssertionError, AttributeError, LookupError, TypeError, client.ApiException) as error:
            last = error
        else:
            if result:
                return result
            last = result
        time.sleep(interval)
    raise AssertionError(f"not reached within {timeout}s; last: {last!r}")


def spec_changes(api_client: client.ApiClient, before: Any) -> int:
    """How often a Deployment's spec changed since ``before`` (a read of it), from the watch history.

    Exactly-once checks count spec changes rather than ``generation``: the API server also bumps
    a Deployment's generation when its annotations change.
    """
    apps = client.AppsV1Api(api_client)
    meta = before.metadata
    previous = api_client.sanitize_for_serialization(before.spec)
    changes = 0
    for event in watch.Watch().stream(
        apps.list_namespaced_deployment,
        meta.namespace,
        field_selector=f"metadata.name={meta.name}",
        resource_version=meta.resource_version,
        timeout_seconds=1,
    ):
        spec = event["raw_object"].get("spec")
        if event["type"] in ("ADDED", "MODIFIED") and spec != previous:
            changes += 1
            previous = spec
    return changes


class Kubectl:
    """The real kubectl, pointed at the local control plane."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result


def git(*args: str, cwd: Path) -> str:
    """Run git; its output, stripped."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def push_all(clone: Path, message: str) -> None:
    """Commit everything in a clone as a developer would, and push it to its main branch."""
    git("add", ".", cwd=clone)
    git(
        "-c",
        "user.name=dev",
        "-c",
        "user.email=dev@example.com",
        "commit",
        "--quiet",
        "-m",
        message,
        cwd=clone,
    )
    git("push", "--quiet", "origin", "HEAD:main", cwd=clone)
