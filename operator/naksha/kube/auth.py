"""Credentials of Naksha's own API client, loaded from where kopf loads them, and kept fresh.

One loader serves both clients of the operator: ``Kube`` (the requests Naksha makes) and kopf
(its watches, finalizers, Events), which logs in through ``connection_info`` (see
``naksha.handlers.lifecycle``). Both therefore present the same identity, whatever the source:

- in a pod: the ServiceAccount token file and CA the kubelet mounts (``KUBERNETES_SERVICE_HOST``);
- otherwise the kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``), with every credential kind the
  ``kubernetes`` client reads from it: ``token``, ``tokenFile``, client certificates, ``exec``
  plugins, auth providers and basic auth.

Why credentials go stale, and what this module does about each case:

- projected ServiceAccount tokens expire and the kubelet writes a new one into the same file: a
  token file is re-read whenever it changed on disk (a ``stat`` per request);
- exec plugins hand out credentials with an expiry: the ``kubernetes`` client runs the plugin again
  once it passed (its own refresh hook, kept);
- anything else (a token revoked early, certificates replaced on disk): a 401 reloads everything
  once, and the request is retried with the new credentials (``Kube`` does that).
"""

from __future__ import annotations

import datetime
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.config import incluster_config, kube_config

CONNECTION_POOL_SIZE = 32


@dataclass(frozen=True)
class Connection:
    """What kopf needs to log in: where the API is and who we are (``kopf.ConnectionInfo``'s fields)."""

    server: str
    ca_path: str | None
    insecure: bool
    scheme: str | None
    token: str | None
    certificate_path: str | None
    private_key_path: str | None
    default_namespace: str | None
    expiration: datetime.datetime | None


class Credentials:
    """An ``ApiClient`` with the current credentials; ``reload`` builds a fresh one from the sources."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._lock = threading.Lock()
        self.api: client.ApiClient
        self.namespace: str | None = None
        self._token_file: str | None = None
        self._token_stamp: tuple[int, int] | None = None
        self._token: str | None = None
        self._expiry: datetime.datetime | None = None
        self._load()

    @property
    def in_cluster(self) -> bool:
        return bool(self._environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(
            incluster_config.SERVICE_TOKEN_FILENAME
        )

    def reload(self, stale: client.ApiClient) -> None:
        """Load everything again unless another thread already replaced ``stale``."""
        with self._lock:
            if self.api is stale:
                self._load()

    def authorization(self) -> str | None:
        """The ``Authorization`` header value now (None with client certificates only)."""
        value = self.api.configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        return str(value) if value else None

    def connection(self) -> Connection:
        configuration = self.api.configuration
        scheme, token = None, None
        header = self.authorization()
        if header:
            scheme, _, token = header.partition(" ")
            # In-cluster config spells it "bearer"; the header is case-insensitive, kopf's check is not.
            scheme = "Bearer" if scheme.lower() == "bearer" else scheme
        return Connection(
            server=str(configuration.host),
            ca_path=configuration.ssl_ca_cert or None,
            insecure=not configuration.verify_ssl,
            scheme=scheme,
            token=token,
            certificate_path=configuration.cert_file or None,
            private_key_path=configuration.key_file or None,
            default_namespace=self.namespace,
            expiration=self._expiry,
        )

    # --- loading -----------------------------------------------------------------------------

    def _load(self) -> None:
        configuration = client.Configuration()
        self._expiry = None
        if self.in_cluster:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            self._token_file = incluster_config.SERVICE_TOKEN_FILENAME
            self.namespace = _read(
                os.path.join(os.path.dirname(incluster_config.SERVICE_TOKEN_FILENAME), "namespace")
            )
        else:
            path = self._environ.get("KUBECONFIG") or kube_config.KUBE_CONFIG_DEFAULT_LOCATION
            loader = kube_config._get_kube_config_loader(filename=path, persist_config=False)  # type: ignore[no-untyped-call]
            loader.load_and_set(configuration)
            user = dict(loader._user.value) if loader._user else {}
            self.namespace = (loader.current_context.get("context") or {}).get("namespace")
            self._token_file = _token_file(user, loader._user.path if loader._user else None)
            expiry = getattr(loader, "expiry", None)
            self._expiry = expiry if isinstance(expiry, datetime.datetime) else None
        if self._token_file:
            # The file is the source of truth: follow it rather than the loader's cached copy.
            self._token_stamp = None
            configuration.refresh_api_key_hook = self._follow_token_file  # type: ignore[assignment]
            self._follow_token_file(configuration)
        # Enough pooled connections for the threads that share this client (AgentRun steps, handlers).
        configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
        self.api = client.ApiClient(configuration)

    def _follow_token_file(self, configuration: client.Configuration) -> None:
        assert self._token_file is not None
        try:
            stat = os.stat(self._token_file)
        except OSError:
            return  # replaced this very moment (kubelet swaps a symlink): keep the token we have
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._token_stamp:
            token = _read(self._token_file)
            if token:
                self._token, self._token_stamp = token, stamp
        if self._token:
            configuration.api_key["BearerToken"] = f"Bearer {self._token}"


def _token_file(user: Mapping[str, Any], kubeconfig_path: str | None) -> str | None:
    """The kubeconfig user's ``tokenFile`` (relative to its kubeconfig), unless a ``token`` wins."""
    if user.get("token") or not user.get("tokenFile"):
        return None
    path = Path(str(user["tokenFile"]))
    if not path.is_absolute() and kubeconfig_path:
        path = Path(kubeconfig_path).parent / path
    return str(path)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
