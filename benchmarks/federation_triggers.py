"""Trigger round trips for ``benchmarks/federation.py``: AgentRuns through the real operator.

One in-process simulated agent (``benchmarks/federation_agents.py``) registers, heartbeats so
its EdgeNode stays Ready, and serves triggers; each AgentRun acts ``edge-exec`` on it and waits
with ``edge-result``. Watches time the engine's act, the trigger request and its result, and the
run's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
from benchmarks.agent import GROUP, VERSION, run_operator
from benchmarks.control_plane import session_for as api_session
from benchmarks.federation_agents import SimulatedAgent, session_for

from naksha.domain.federation import tokens
from naksha.domain.federation.requests import TRIGGER_LABEL

NAMESPACE = "bench"


def edge_run(name: str, node: str) -> dict[str, Any]:
    """What an operator's playbook does with an edge node: act edge-exec, then wait for its result."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AgentRun",
        "metadata": {"name": name},
        "spec": {
            "target": {"apiVersion": f"{GROUP}/{VERSION}", "kind": "EdgeNode", "name": node},
            "graph": {
                "start": "send",
                "nodes": [
                    {
                        "name": "send",
                        "type": "act",
                        "wpk": "edge-exec",
                        "params": {"wpk": "collect-diagnostics", "params": {}},
                        "next": "result",
                    },
                    {
                        "name": "result",
                        "type": "observe",
                        "wpk": "edge-result",
                        "params": {"act": "send", "timeout": "60s"},
                        "next": "done",
                    },
                    {"name": "done", "type": "end"},
                ],
            },
        },
    }


async def trigger_round_trips(
    api: aiohttp.ClientSession, url: str, agent: SimulatedAgent, count: int
) -> dict[str, list[float]]:
    """Per AgentRun, seen through watches (each pair through one watch, so its delay cancels out):

    ``actToResult``      the engine checkpointed the edge-exec act → the edge result is on the run;
    ``requestToResult``  of which: the trigger request appeared → the hub recorded the result in it
                         (hub signs, agent long-polls, verifies, answers; the federation's part);
    ``createToEnd``      the AgentRun created → it ended.
    """
    runs = f"{url}/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/agentruns"
    requests = f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps"
    moments: dict[str, dict[str, float]] = {
        key: {} for key in ("acted", "recorded", "created", "ended", "requested", "answered")
    }
    seen = asyncio.Event()

    def first(kind: str, name: str, now: float) -> None:
        moments[kind].setdefault(name, now)

    async def watch(address: str, params: dict[str, str], fold: Any) -> None:
        forever = aiohttp.ClientTimeout(total=None)
        async with api.get(address, params={"watch": "1", **params}, timeout=forever) as response:
            async for line in response.content:
                fold(json.loads(line).get("object") or {}, time.monotonic())
                seen.set()

    def fold_run(body: dict[str, Any], now: float) -> None:
        name, status = body["metadata"]["name"], body.get("status") or {}
        if status.get("actions"):
            first("acted", name, now)
        if "edgeOutcome" in (status.get("state") or {}):
            first("recorded", name, now)
        if status.get("phase") in ("Succeeded", "Failed"):
            first("ended", name, now)

    def fold_request(body: dict[str, Any], now: float) -> None:
        name = body["metadata"]["name"]
        first("requested", name, now)
        if (body.get("data") or {}).get("result"):
            first("answered", name, now)

    watchers = [
        asyncio.create_task(watch(runs, {}, fold_run)),
        asyncio.create_task(watch(requests, {"labelSelector": TRIGGER_LABEL}, fold_request)),
    ]
    for index in range(count):
        name = f"edge-round-trip-{index}"
        seen.clear()
        moments["created"][name] = time.monotonic()
        async with api.post(runs, json=edge_run(name, agent.node)) as response:
            assert response.status == 201, await response.text()
        deadline = time.monotonic() + 120
        while name not in moments["ended"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"AgentRun {name} did not end in 120 s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(seen.wait(), timeout=1)
            seen.clear()
    for watcher in watchers:
        watcher.cancel()

    def spans(start: str, end: str) -> list[float]:
        return [moments[end][n] - moments[start][n] for n in moments[end] if n in moments[start]]

    return {
        "actToResult": spans("acted", "recorded"),
        "requestToResult": spans("requested", "answered"),
        "createToEnd": spans("created", "ended"),
    }


async def node_ready(api: aiohttp.ClientSession, url: str, node: str) -> None:
    address = f"{url}/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/edgenodes/{node}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async with api.get(address) as response:
            conditions = ((await response.json()).get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"EdgeNode {node} did not become Ready")


async def measure_triggers(
    count: int, url: str, kubeconfig: Path, hub: str, ca: str, key: tokens.PrivateKey
) -> dict[str, list[float]]:
    """Trigger round trips through the real operator, with one in-process agent kept Ready."""
    node = "edge-trigger"
    bootstrap = tokens.mint_bootstrap(key, namespace=NAMESPACE, node=node, ttl=3600, now=time.time())
    operator = run_operator(kubeconfig, Path(os.environ["NAKSHA_BENCH_WORKDIR"]))
    try:
        async with session_for(ca, 8) as session, api_session(kubeconfig) as api:
            agent = SimulatedAgent(node, hub, session, bootstrap)
            await agent.register()
            stop = asyncio.Event()
            beating = asyncio.create_task(agent.heartbeats(0.0, time.time() + 3600, 0.0))
            serving = asyncio.create_task(agent.serve_triggers(NAMESPACE, stop))
            try:
                await node_ready(api, url, node)
                return await trigger_round_trips(api, url, agent, count)
            finally:
                stop.set()
                beating.cancel()
                serving.cancel()
    finally:
        operator.send_signal(signal.SIGINT)
        operator.wait(timeout=60)
