"""Simulated edge agents for ``benchmarks/federation.py``: one process running N asyncio agents.

The benchmark starts several of these processes so that the client side is not what it measures
(one process driving 1,000 agents on a shared core measured its own event-loop lag, not the
hub). Each process speaks a line protocol with the benchmark:

  stdin  {"hub", "ca", "agents": [[node, bootstrapToken], ...], "concurrency"}
  stdout {"registered": n, "seconds": t}                  every agent registered
  stdin  {"measureFrom": epoch, "until": epoch}           heartbeat at 1 Hz until ``until``
  stdout {"latencies": [...], "failures": {kind: n}, "lagP99Ms": x, "cpuSeconds": c}

Latencies are kept only for heartbeats sent after ``measureFrom`` (the warm-up absorbs every
node's first status write). ``lagP99Ms`` is this process's own event-loop lag, sampled every
10 ms: if it approaches the heartbeat latency, the client and not the hub is being measured.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

import aiohttp  # noqa: E402

from naksha.domain.federation import allowlist, tokens, triggers  # noqa: E402
from naksha.domain.federation.ledger import ReplayLedger  # noqa: E402

HEARTBEAT = {"capabilities": ["run-command"], "agentVersion": "bench", "load": {"load1": 0.1}}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


class SimulatedAgent:
    def __init__(self, node: str, hub: str, session: aiohttp.ClientSession, bootstrap: str) -> None:
        self.node = node
        self.hub = hub
        self.session = session
        self.bootstrap = bootstrap
        self.key = tokens.generate_key()
        self.identity: dict[str, Any] = {}
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()  # by status or error

    async def register(self) -> None:
        body = {
            "bootstrapToken": self.bootstrap,
            "node": self.node,
            "publicKey": tokens.public_pem(self.key.public_key()),
            "proof": tokens.mint_proof(self.key, node=self.node, use="register", now=time.time()),
            "capabilities": ["run-command", "collect-diagnostics"],
            "agentVersion": "bench",
        }
        for attempt in range(5):  # as the real agent: a dropped or timed-out connection is tried again
            try:
                async with self.session.post(f"{self.hub}/federation/register", json=body) as response:
                    if response.status != 200:
                        raise RuntimeError(
                            f"{self.node}: registration answered {response.status}: {await response.text()}"
                        )
                    self.identity = await response.json()
                    return
            except (aiohttp.ClientConnectionError, TimeoutError):
                if attempt == 4:
                    raise
                await asyncio.sleep(1.0)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.identity['credential']}"}

    async def heartbeats(self, measure_from: float, until: float, phase: float) -> None:
        await asyncio.sleep(phase)  # spread the agents over the second
        while time.time() < until:
            started = time.monotonic()
            sent_at = time.time()
            try:
                async with self.session.post(
                    f"{self.hub}/federation/heartbeat", json=HEARTBEAT, headers=self.headers()
                ) as response:
                    await response.read()
                    if response.status != 200:
                        self.failures[str(response.status)] += 1
                    elif sent_at >= measure_from:
                        self.latencies.append(time.monotonic() - started)
            except (aiohttp.ClientError, TimeoutError) as error:
                self.failures[type(error).__name__] += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    async def serve_triggers(self, namespace: str, stop: asyncio.Event) -> None:
        """Long-poll, verify each trigger as the real agent does, and answer at once."""
        hub_key = tokens.load_public_pem(self.identity["hubPublicKey"])
        ledger = ReplayLedger()
        config = allowlist.AgentConfig(capabilities=["collect-diagnostics"])
        while not stop.is_set():
            async with self.session.get(
                f"{self.hub}/federation/triggers?wait=5s", headers=self.headers()
            ) as response:
                if response.status != 200:
                    await asyncio.sleep(0.2)  # as the real agent: back off, never spin
                    continue
                delivered = (await response.json()).get("triggers") or []
            for token in delivered:
                accepted = triggers.accept(
                    token,
                    hub_key,
                    namespace=namespace,
                    node=self.node,
                    ledger=ledger,
                    config=config,
                    now=time.time(),
                )
                ledger.use(accepted.jti, accepted.expires, time.time())
                result = {"results": [{"jti": accepted.jti, "outcome": "Succeeded", "exitCode": 0}]}
                async with self.session.post(
                    f"{self.hub}/federation/results", json=result, headers=self.headers()
                ) as answer:
                    await answer.read()


def session_for(ca: str, connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, ssl=ssl.create_default_context(cafile=ca))
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def _loop_lag(stop: asyncio.Event, samples: list[float]) -> None:
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(0.01)
        samples.append(time.monotonic() - started - 0.01)


async def _read_line() -> dict[str, Any]:
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        raise SystemExit("the benchmark closed this worker's stdin")
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def worker() -> None:
    spec = await _read_line()
    agents_spec = spec["agents"]
    async with session_for(spec["ca"], max(8, len(agents_spec))) as session:
        agents = [SimulatedAgent(node, spec["hub"], session, token) for node, token in agents_spec]
        gate = asyncio.Semaphore(int(spec.get("concurrency", 16)))

        async def register(agent: SimulatedAgent) -> None:
            async with gate:
                await agent.register()

        started = time.monotonic()
        await asyncio.gather(*(register(agent) for agent in agents))
        _say({"registered": len(agents), "seconds": time.monotonic() - started})

        window = await _read_line()
        stop, lag = asyncio.Event(), []  # type: ignore[var-annotated]
        sampler = asyncio.create_task(_loop_lag(stop, lag))
        cpu_before = os.times()
        await asyncio.gather(
            *(
                agent.heartbeats(window["measureFrom"], window["until"], (hash(agent.node) % 1000) / 1000)
                for agent in agents
            )
        )
        cpu_after = os.times()
        stop.set()
        await sampler
        _say(
            {
                "latencies": [value for agent in agents for value in agent.latencies],
                "failures": dict(sum((agent.failures for agent in agents), Counter())),
                "lagP99Ms": round(percentile(lag, 0.99) * 1000, 1),
                "cpuSeconds": round(
                    (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system), 2
                ),
            }
        )


if __name__ == "__main__":
    asyncio.run(worker())
