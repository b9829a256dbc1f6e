"""The AgentRun HTTP API served on a loopback port for tests, and the shared secret its tokens use."""

from __future__ import annotations

import asyncio
import threading

from naksha.controllers.agentrun import api

SECRET = "a-unit-test-secret-of-at-least-32-bytes"


class ServedApi:
    """The API listening on a loopback port, in its own event loop thread."""

    def __init__(self, agent_api: api.AgentApi) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner, port = asyncio.run_coroutine_threadsafe(
            api.serve(agent_api, "127.0.0.1", 0), self.loop
        ).result(10)
        self.base = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
