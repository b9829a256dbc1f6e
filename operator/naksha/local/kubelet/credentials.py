"""The ServiceAccount credentials a node gives each pod, the way a cluster's kubelet does.

A pod acts as its ``spec.serviceAccountName`` (``default`` unless named): the node asks the
API for a token bound to the pod (audience: the API server; deleting the pod invalidates it)
and keeps it in ``<pod dir>/serviceaccount/token`` beside ``ca.crt`` and ``namespace`` — the
files a cluster projects under ``/var/run/secrets/kubernetes.io/serviceaccount``. The token is
rewritten (atomically) once 80 % of its lifetime has passed (at the latest after a day), as the
real kubelet refreshes projected tokens. Processes find the API through ``<pod dir>/kubeconfig``,
which names that token file (``tokenFile``), so clients that re-read it pick up the fresh token;
``KUBERNETES_SERVICE_HOST``/``PORT`` name the API server, as a kubelet sets them for every pod.
``automountServiceAccountToken: false`` (on the pod, or on the account when the pod is silent)
gives a kubeconfig without credentials, as a pod without a mounted token has none.

Where tokens come from is a ``TokenIssuer``: the emulator's kubelet signs them in process
(``LocalTokenIssuer``); the node agent of a real API server asks its TokenRequest API
(``naksha.local.nodeagent.tokens``). Everything else here is shared by both.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import yaml

from naksha.local.apiserver.authn import ServiceAccountTokens

logger = logging.getLogger(__name__)
REFRESH_FRACTION = 0.8
MAX_TOKEN_AGE_SECONDS = 24 * 3600  # the kubelet renews a token a day old, however long it lives
DEFAULT_TOKEN_SECONDS = 3607  # what the real kubelet asks for projected tokens
RETRY_SECONDS = 2.0
# Where a process in a cluster's pod finds its credentials; if this machine has them itself (it
# runs in a pod), the API's address is not exported, so in-cluster loading cannot pick the host's.
CLUSTER_TOKEN_PATH = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class CredentialsUnavailable(Exception):
    """The pod's token cannot be had now (the container waits, and is retried)."""


class MissingServiceAccount(CredentialsUnavailable):
    """The pod names a ServiceAccount that does not exist (yet)."""


class TokenIssuer(Protocol):
    """Where a node gets pod tokens: the account's object, and a token bound to the pod."""

    def service_account(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def issue(self, account: dict[str, Any], pod: dict[str, Any], seconds: int) -> tuple[str, float]:
        """A token of ``account`` bound to ``pod``, with its expiry (epoch seconds)."""
        ...


@dataclass(frozen=True)
class LocalTokenIssuer:
    """The emulator's own issuer, in process (its store and signing key)."""

    tokens: ServiceAccountTokens

    def service_account(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.tokens.store.get("/v1/serviceaccounts", namespace, name)

    def issue(self, account: dict[str, Any], pod: dict[str, Any], seconds: int) -> tuple[str, float]:
        token, expiry = self.tokens.issue(account, seconds=seconds, bound=pod)
        return token, float(expiry)


@dataclass(frozen=True)
class CredentialSource:
    """What a node needs to give pods credentials: the issuer, the API's URL and its CA."""

    issuer: TokenIssuer
    server: str
    ca_certificate: bytes
    token_seconds: int = DEFAULT_TOKEN_SECONDS

    def for_pod(self, pod: dict[str, Any], directory: Path) -> PodCredentials:
        return PodCredentials(self, pod, directory)


def refresh_time(issued_at: float, expires_at: float) -> float:
    """When a token is renewed: once 80 % of its lifetime has passed, and never later than a day on."""
    lifetime = max(expires_at - issued_at, 0.0)
    return issued_at + min(lifetime * REFRESH_FRACTION, MAX_TOKEN_AGE_SECONDS)


class PodCredentials:
    """One pod's token file and kubeconfig, refreshed until ``close()``."""

    def __init__(self, source: CredentialSource, pod: dict[str, Any], directory: Path) -> None:
        self.source = source
        self.pod = pod
        self.namespace = pod["metadata"]["namespace"]
        self.account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        self.mount = directory / "serviceaccount"
        self.kubeconfig_path = directory / "kubeconfig"
        self.expires_at = 0.0
        self.refresh_at = 0.0
        self._refresher: asyncio.Task[None] | None = None

    @property
    def token_path(self) -> Path:
        return self.mount / "token"

    def environment(self) -> dict[str, str]:
        """The variables that lead the pod's processes to the API and these credentials."""
        variables = {"KUBECONFIG": str(self.kubeconfig())}
        server = urlsplit(self.source.server)
        if server.hostname and not CLUSTER_TOKEN_PATH.exists():
            variables["KUBERNETES_SERVICE_HOST"] = server.hostname
            variables["KUBERNETES_SERVICE_PORT"] = str(server.port or 443)
            variables["KUBERNETES_SERVICE_PORT_HTTPS"] = str(server.port or 443)
        return variables

    def kubeconfig(self) -> Path:
        """Write the token and kubeconfig (if not yet there) and keep the token fresh; the kubeconfig's path.

        Raises ``MissingServiceAccount`` while the account does not exist, so the container waits,
        and ``CredentialsUnavailable`` while no token can be had.
        """
        account = self.source.issuer.service_account(self.namespace, self.account)
        if account is None:
            raise MissingServiceAccount(f'serviceaccount "{self.account}" not found in {self.namespace}')
        mounted = _automount(self.pod, account)
        self.mount.mkdir(parents=True, exist_ok=True)
        (self.mount / "ca.crt").write_bytes(self.source.ca_certificate)
        (self.mount / "namespace").write_text(self.namespace)
        if mounted and (self.expires_at - time.time() < 1 or not self.token_path.exists()):
            self._write_token(account)
        if mounted and self._refresher is None:
            self._refresher = asyncio.get_running_loop().create_task(
                self._refresh(), name=f"token-{self.namespace}/{self.pod['metadata']['name']}"
            )
        self._write_kubeconfig(mounted)
        return self.kubeconfig_path

    def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None

    def _write_token(self, account: dict[str, Any]) -> None:
        issued_at = time.time()
        token, expiry = self.source.issuer.issue(account, self.pod, self.source.token_seconds)
        temporary = self.token_path.with_suffix(".tmp")
        temporary.write_text(token)
        temporary.chmod(0o600)
        os.replace(temporary, self.token_path)  # readers see the old token or the new, never half
        self.expires_at = expiry
        self.refresh_at = refresh_time(issued_at, expiry)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(max(0.5, self.refresh_at - time.time()))
            account = self.source.issuer.service_account(self.namespace, self.account)
            if account is None:
                # The account is gone: its tokens no longer authenticate anyway.
                self.refresh_at = time.time() + RETRY_SECONDS
                continue
            try:
                self._write_token(account)
            except (CredentialsUnavailable, OSError) as error:
                logger.warning(
                    "pod %s/%s: renewing its token: %s", self.namespace, self.pod["metadata"]["name"], error
                )
                self.refresh_at = time.time() + RETRY_SECONDS

    def _write_kubeconfig(self, with_token: bool) -> None:
        user: dict[str, Any] = {"tokenFile": str(self.token_path)} if with_token else {}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "naksha-local",
                    "cluster": {
                        "server": self.source.server,
                        "certificate-authority": str(self.mount / "ca.crt"),
                    },
                }
            ],
            "users": [{"name": self.account, "user": user}],
            "contexts": [
                {
                    "name": "naksha-local",
                    "context": {"cluster": "naksha-local", "user": self.account, "namespace": self.namespace},
                }
            ],
            "current-context": "naksha-local",
        }
        self.kubeconfig_path.write_text(yaml.safe_dump(config, sort_keys=False))


def _automount(pod: dict[str, Any], account: dict[str, Any]) -> bool:
    pod_says = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if pod_says is not None:
        return bool(pod_says)
    return bool(account.get("automountServiceAccountToken", True))
