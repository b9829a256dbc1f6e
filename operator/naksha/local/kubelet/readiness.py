"""Readiness of a local pod's containers: ``httpGet`` and ``tcpSocket`` probes, polled at the pod's
address (HTTPS unverified, as the kubelet's), and the ports a pod's containers declare or probe.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from naksha.local.network import PodNetwork


def resolve_ports(probe: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """A probe with its named port (``port: health``) replaced by the container port of that name."""
    named = {p.get("name"): p.get("containerPort") for p in container.get("ports") or [] if p.get("name")}
    resolved = dict(probe)
    for handler in ("httpGet", "tcpSocket"):
        port = (probe.get(handler) or {}).get("port")
        if isinstance(port, str) and port in named:
            resolved[handler] = {**probe[handler], "port": named[port]}
    return resolved


def probe_ports(container: dict[str, Any]) -> set[int]:
    """The container's declared ports and its readiness probe's: forwarded from the host at once."""
    ports = {int(p["containerPort"]) for p in container.get("ports") or [] if p.get("containerPort")}
    probe = resolve_ports(container.get("readinessProbe") or {}, container)
    for handler in ("httpGet", "tcpSocket"):
        port = (probe.get(handler) or {}).get("port")
        if isinstance(port, int):
            ports.add(port)
    return ports


async def check(probe: dict[str, Any], network: PodNetwork) -> bool:
    if "httpGet" in probe:
        port, path = probe["httpGet"].get("port"), probe["httpGet"].get("path", "/")
        # As the kubelet does, an HTTPS probe does not verify the certificate (it checks liveness).
        scheme = "https" if str(probe["httpGet"].get("scheme", "HTTP")).upper() == "HTTPS" else "http"
        try:
            timeout = aiohttp.ClientTimeout(total=1)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(f"{scheme}://{network.address}:{port}{path}", ssl=False) as response,
            ):
                return 200 <= response.status < 400
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False
    if "tcpSocket" in probe:
        # Straight into the pod: the host-side forwarder would accept even when nothing listens inside.
        try:
            sock = await asyncio.wait_for(network.open(int(probe["tcpSocket"]["port"])), 1)
        except (OSError, TimeoutError, ValueError):
            return False
        sock.close()
        return True
    return True
