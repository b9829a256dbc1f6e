"""The local control plane: the API emulator (and optionally the local kubelet) on its own thread.

Hosting them on a dedicated thread with its own event loop keeps them answering while the
caller blocks (a synchronous client, kopf's ``KopfRunner``, a test waiting on a condition).
The API is served over TLS with the control plane's own CA; the kubeconfig it writes
authenticates with a client certificate of ``ADMIN_USER`` in ``system:masters``. Requests are
authorised by RBAC (``authorization_mode="rbac"``, the default, so a missing rule fails here as
it would on a cluster) or not at all (``"always-allow"``).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp.test_utils
import kmock
import yaml

from naksha.local.apiserver import ApiEmulator
from naksha.local.apiserver.authn import MASTERS
from naksha.local.apiserver.pki import CertificateAuthority
from naksha.local.apiserver.rbac import RBAC
from naksha.local.apiserver.serviceaccounts import DefaultAccounts
from naksha.local.apiserver.store import HISTORY_LIMIT
from naksha.local.apiserver.watching import BOOKMARK_SECONDS
from naksha.local.kubelet.credentials import DEFAULT_TOKEN_SECONDS, CredentialSource, LocalTokenIssuer
from naksha.local.signals import wait_for_stop

if TYPE_CHECKING:
    from naksha.local.kubelet import Kubelet

logger = logging.getLogger(__name__)
ADMIN_USER = "naksha-local-admin"


def _tls_server(context: ssl.SSLContext) -> type[aiohttp.test_utils.RawTestServer]:
    """kmock's raw server class, listening with TLS under ``context``."""

    class TlsServer(aiohttp.test_utils.RawTestServer):
        async def start_server(self, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any) -> None:
            kwargs.setdefault("ssl", context)
            await super().start_server(loop, **kwargs)

    return TlsServer


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
        pod_token_seconds: int = DEFAULT_TOKEN_SECONDS,
        authorization_mode: str = RBAC,
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
            state_dir=self.state_dir,
            history_limit=history_limit,
            bookmark_seconds=bookmark_seconds,
            authorization_mode=authorization_mode,
        )
        self.pod_token_seconds = pod_token_seconds
        self.ca = CertificateAuthority()
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
        """Block until SIGINT or SIGTERM (or the server's thread ends), then stop."""
        try:
            wait_for_stop(lambda: self._thread is None or self._thread.is_alive())
        finally:
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
        tls = self.ca.server_context(self.state_dir / "pki", hosts=(self._host, "localhost"))
        server_cls = _tls_server(tls)
        accounts = DefaultAccounts(self.emulator.api)
        async with (
            self.emulator,
            kmock.Server(self.emulator, host=self._host, port=self._port, server_cls=server_cls) as server,
        ):
            self.url = f"https://{self._host}:{server.port}"
            accounts.start()
            # Pods read the kubeconfig as they start, so it must exist before the kubelet does.
            self._write_kubeconfig()
            kubelet = None
            if self.with_kubelet:
                from naksha.local.kubelet import Kubelet

                credentials = CredentialSource(
                    LocalTokenIssuer(self.emulator.tokens),
                    self.url,
                    self.ca.certificate,
                    self.pod_token_seconds,
                )
                kubelet = Kubelet(
                    self.emulator.api,
                    self.state_dir,
                    self.kubeconfig_path,
                    credentials,
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
            await accounts.stop()

    def client_ssl_context(self, *, admin: bool = True) -> ssl.SSLContext:
        """A TLS context trusting this control plane's CA; with ``admin``, showing the admin certificate."""
        pki = self.state_dir / "pki"
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        if admin:
            context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return context

    def _write_kubeconfig(self) -> None:
        admin = self.ca.issue(ADMIN_USER, organizations=(MASTERS,))
        pki = self.state_dir / "pki"
        (pki / "admin.crt").write_bytes(admin.certificate)
        (pki / "admin.key").touch(mode=0o600)
        (pki / "admin.key").write_bytes(admin.key)
        cluster = {"server": self.url, "certificate-authority-data": _b64(self.ca.certificate)}
        user = {"client-certificate-data": _b64(admin.certificate), "client-key-data": _b64(admin.key)}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "naksha-local", "cluster": cluster}],
            "users": [{"name": "naksha-local", "user": user}],
            "contexts": [
                {
                    "name": "naksha-local",
                    "context": {"cluster": "naksha-local", "user": "naksha-local", "namespace": "default"},
                }
            ],
            "current-context": "naksha-local",
        }
        self.kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
        # It holds the admin's private key: readable by its owner only.
        temporary = self.kubeconfig_path.with_suffix(".tmp")
        temporary.touch(mode=0o600)
        temporary.chmod(0o600)
        temporary.write_text(yaml.safe_dump(config, sort_keys=False))
        temporary.replace(self.kubeconfig_path)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
