"""Start-up of ``naksha hub``: key, ledger, the watched registry, the lease loop, the HTTPS server.

Two watches (EdgeNodes, trigger requests) run in threads, since ``naksha.kube`` is blocking, and
hand their events to the event loop; each lists again after an error or an expired version.
The lease loop decides status writes every ``lease_tick`` and performs them a few at a time.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from naksha.access import tls
from naksha.errors import NakshaError
from naksha.kube import Conflict, Kube, KubeApi
from naksha.services.hub.app import Hub
from naksha.services.hub.deliveries import Deliveries
from naksha.services.hub.ledger import DurableLedger
from naksha.services.hub.registry import Registry, StatusWrite
from naksha.services.hub.settings import HubSettings
from naksha.services.hub.site import HubSite
from naksha.services.hub.store import HubStore

logger = logging.getLogger(__name__)
WRITERS = 8


def self_signed(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Path:
    """A self-signed serving pair in ``directory`` (tls.crt, tls.key), for local use; kept if present."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "tls.crt").exists() and (directory / "tls.key").exists():
        return directory
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "naksha-hub")])
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path = directory / "tls.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    os.chmod(key_path, 0o600)
    (directory / "tls.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return directory


def _watch_forever(
    name: str,
    lister: Callable[[], tuple[list[dict[str, Any]], str]],
    watcher: Callable[[str], Iterator[dict[str, Any]]],
    deliver: Callable[[str, dict[str, Any]], None],
    stop: threading.Event,
) -> None:
    while not stop.is_set():
        try:
            items, version = lister()
            deliver("SYNC", {"items": items})
            while not stop.is_set():
                for event in watcher(version):
                    kind, body = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        raise NakshaError(f"watch of {name}: {body.get('message')}")
                    version = str((body.get("metadata") or {}).get("resourceVersion") or version)
                    if kind != "BOOKMARK":
                        deliver(str(kind), body)
        except Exception as error:
            if stop.is_set():
                return
            logger.warning("watch of %s restarts: %s", name, error)
            stop.wait(1.0)


class HubProcess:
    def __init__(self, settings: HubSettings, kube: KubeApi | None = None) -> None:
        self.settings = settings
        self.store = HubStore(kube or Kube(), settings.namespace)
        self.stop = threading.Event()
        self.writes = 0
        self._signing: set[asyncio.Task[None]] = set()

    async def start(self) -> tuple[web.AppRunner, int]:
        settings = self.settings
        key = await asyncio.to_thread(self.store.signing_key)
        entries = await asyncio.to_thread(self.store.load_ledger)
        self.registry = Registry(settings.namespace, time.time())
        ledger = DurableLedger(self.store.save_ledger, entries, capacity=settings.ledger_capacity)
        self.deliveries = Deliveries(self.store, self.registry, key, settings.redeliver_after)
        self.hub = Hub(settings, self.store, self.registry, ledger, self.deliveries, key)
        loop = asyncio.get_running_loop()
        nodes_synced, triggers_synced = asyncio.Event(), asyncio.Event()

        def on_node(kind: str, body: dict[str, Any]) -> None:
            if kind == "SYNC":
                for item in body["items"]:
                    self.registry.upsert(item)
                nodes_synced.set()
            elif kind == "DELETED":
                self.registry.remove(body)
            else:
                self.registry.upsert(body)

        def on_trigger(kind: str, body: dict[str, Any]) -> None:
            items = body["items"] if kind == "SYNC" else [body]
            for item in items:
                if kind == "DELETED":
                    self.deliveries.forget(item)
                    continue
                request = self.deliveries.observe(item)
                if request is not None:
                    task = loop.create_task(self.deliveries.sign(request))
                    self._signing.add(task)
                    task.add_done_callback(self._signing.discard)
            if kind == "SYNC":
                triggers_synced.set()

        for name, lister, watcher, handler in (
            ("edgenodes", self.store.list_nodes, self.store.watch_nodes, on_node),
            ("trigger requests", self.store.list_triggers, self.store.watch_triggers, on_trigger),
        ):
            threading.Thread(
                target=_watch_forever,
                args=(
                    name,
                    lister,
                    watcher,
                    lambda k, b, h=handler: loop.call_soon_threadsafe(h, k, b),
                    self.stop,
                ),
                name=f"hub-watch-{name}",
                daemon=True,
            ).start()
        await asyncio.wait_for(nodes_synced.wait(), timeout=60)
        await asyncio.wait_for(triggers_synced.wait(), timeout=60)
        self._lease_task = loop.create_task(self._lease_loop())
        # keepalive_timeout bounds a connection waiting for (the rest of) its request headers:
        # naksha.services.hub.site says how slow clients are cut off.
        runner = web.AppRunner(
            self.hub.application(), access_log=None, keepalive_timeout=settings.header_timeout
        )
        await runner.setup()
        site = HubSite(
            runner,
            settings.host,
            settings.port,
            ssl_context=self._tls(),
            handshake_timeout=settings.handshake_timeout,
        )
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else settings.port
        return runner, int(port)

    def _tls(self) -> ssl.SSLContext | None:
        directory = self.settings.tls_dir
        if not directory and self.settings.self_signed_dir:
            directory = str(self_signed(Path(self.settings.self_signed_dir)))
        return tls.server_context(directory) if directory else None

    async def _lease_loop(self) -> None:
        writers = asyncio.Semaphore(WRITERS)
        pending: set[asyncio.Task[None]] = set()
        while True:
            now = time.time()
            for write in self.registry.tick(now):
                task = asyncio.get_running_loop().create_task(self._write(write, writers))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await self.deliveries.expire(now)
            await asyncio.sleep(self.settings.lease_tick)

    async def _write(self, write: StatusWrite, writers: asyncio.Semaphore) -> None:
        async with writers:
            try:
                written = await asyncio.to_thread(
                    self.store.write_status, write.name, write.status, write.resource_version
                )
                self.writes += 1
                if written is not None:
                    self.registry.upsert(written)
                    if write.event is not None:
                        await asyncio.to_thread(self.store.node_event, written, *write.event)
            except Conflict:
                # The operator wrote the node since the hub last saw it: the watch brings the newer
                # object, and the write is made again on it, keeping the operator's conditions.
                self.writes += 1
                self.registry.conflicted(write)
            except Exception as error:
                # The next tick writes again: forget what was marked written.
                record = self.registry.nodes.get(write.name)
                if record is not None:
                    record.written_state = None
                logger.warning("status of EdgeNode %s not written: %s", write.name, error)


async def serve(settings: HubSettings, ready: Callable[[int], None] | None = None) -> None:
    """Run the hub until cancelled."""
    process = HubProcess(settings)
    runner, port = await process.start()
    logger.info(
        "naksha hub on %s:%d (namespace %s, approval %s)",
        settings.host,
        port,
        settings.namespace,
        settings.approval,
    )
    if ready is not None:
        ready(port)
    try:
        await asyncio.Event().wait()
    finally:
        process.stop.set()
        await runner.cleanup()
