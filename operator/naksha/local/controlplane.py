"""The local control plane: the API emulator (and optionally the local kubelet) on its own thread.

Hosting them on a dedicated thread with its own event loop keeps them answering while the
caller blocks (a synchronous client, kopf's ``KopfRunner``, a test waiting on a condition).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import kmock
import yaml

from naksha.local.apiserver import ApiEmulator
from naksha.local.apiserver.store import HISTORY_LIMIT
from naksha.local.apiserver.watching import BOOKMARK_SECONDS

if TYPE_CHECKING:
    from naksha.local.kubelet import Kubelet

logger = logging.getLogger(__name__)
TOKEN = "naksha-local"


class LocalControlPlane:
    """Start with ``start()`` or ``with``; ``url`` and ``kubeconfig_path`` tell clients where it is."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: Path | None = None,
        kubeconfig: Path | None = None,
        kubelet: bool = True,
        isolate_pods: bool = True,
        history_limit: int = HISTORY_LIMIT,
        bookmark_seconds: float = BOOKMARK_SECONDS,
    ) -> None:
        self._host = host
        self._port = port
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="naksha-local-")
            state_dir = Path(self._tmp.name)
        self.state_dir = Path(state_dir).resolve()
        self.kubeconfig_path = Path(kubeconfig or self.state_dir / "kubeconfig").resolve()
        self.with_kubelet = kubelet
        self.isolate_pods = isolate_pods  # False: pods share the host's loopback (no network namespaces)
        self.emulator = ApiEmulator(
            state_dir=self.state_dir, history_limit=history_limit, bookmark_seconds=bookmark_seconds
        )
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.kubelet: Kubelet | None = None

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="naksha-local-control-plane", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("the local control plane did not start within 30 s")
        if self._error is not None:
            raise RuntimeError(f"the local control plane failed to start: {self._error}") from self._error
        logger.info("local control plane serving at %s", self.url)

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        self._thread.join(timeout=30)
        self._loop = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalControlPlane:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def run_forever(self) -> None:
        """Block until SIGINT or SIGTERM, then stop."""
        finished = threading.Event()
        previous = {
            sig: signal.signal(sig, lambda *_: finished.set()) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            while not finished.wait(0.5):
                if self._thread is not None and not self._thread.is_alive():
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:
            self._error = error
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        async with self.emulator, kmock.Server(self.emulator, host=self._host, port=self._port) as server:
            self.url = f"http://{self._host}:{server.port}"
            # Pods read the kubeconfig as they start, so it must exist before the kubelet does.
            self._write_kubeconfig()
            kubelet = None
            if self.with_kubelet:
                from naksha.local.kubelet import Kubelet

                kubelet = Kubelet(
                    self.emulator.api,
                    self.state_dir,
                    self.kubeconfig_path,
                    isolate=self.isolate_pods,
                    host_ports=(server.port,),  # pods reach the API at the kubeconfig's 127.0.0.1:<port>
                )
                await kubelet.start()
                self.emulator.pod_opener = kubelet.open_pod_port
            self.kubelet = kubelet
            self._ready.set()
            await self._stopping.wait()
            if kubelet is not None:
                await kubelet.stop()

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "naksha-local", "cluster": {"server": self.url}}],
            "users": [{"name": "naksha-local", "user": {"token": TOKEN}}],
            "contexts": [
                {
                    "name": "naksha-local",
                    "context": {"cluster": "naksha-local", "user": "naksha-local", "namespace": "default"},
                }
            ],
            "current-context": "naksha-local",
        }
        self.kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
        self.kubeconfig_path.write_text(yaml.safe_dump(config, sort_keys=False))
