"""The ServiceAccount credentials the local kubelet gives each pod, the way a cluster's kubelet does.

A pod acts as its ``spec.serviceAccountName`` (``default`` unless named): the kubelet asks the
API for a token bound to the pod (audience: the API server; deleting the pod invalidates it)
and keeps it in ``<pod dir>/serviceaccount/token`` beside ``ca.crt`` and ``namespace`` — the
files a cluster projects under ``/var/run/secrets/kubernetes.io/serviceaccount``. The token is
rewritten (atomically) once 80 % of its lifetime has passed, as the real kubelet refreshes
projected tokens. Processes find the API through ``<pod dir>/kubeconfig``, which names that
token file (``tokenFile``), so clients that re-read it pick up the fresh token.
``automountServiceAccountToken: false`` (on the pod, or on the account when the pod is silent)
gives a kubeconfig without credentials, as a pod without a mounted token has none.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from naksha.local.apiserver.authn import ServiceAccountTokens

REFRESH_FRACTION = 0.8
DEFAULT_TOKEN_SECONDS = 3607  # what the real kubelet asks for projected tokens


class MissingServiceAccount(Exception):
    """The pod names a ServiceAccount that does not exist (yet)."""


@dataclass(frozen=True)
class CredentialSource:
    """What the kubelet needs to give pods credentials: the issuer, the API's URL and its CA."""

    tokens: ServiceAccountTokens
    server: str
    ca_certificate: bytes
    token_seconds: int = DEFAULT_TOKEN_SECONDS

    def for_pod(self, pod: dict[str, Any], directory: Path) -> PodCredentials:
        return PodCredentials(self, pod, directory)


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
        self._refresher: asyncio.Task[None] | None = None

    @property
    def token_path(self) -> Path:
        return self.mount / "token"

    def kubeconfig(self) -> Path:
        """Write the token and kubeconfig (if not yet there) and keep the token fresh; the kubeconfig's path.

        Raises ``MissingServiceAccount`` while the account does not exist, so the container waits.
        """
        account = self.source.tokens.store.get("/v1/serviceaccounts", self.namespace, self.account)
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
        token, expiry = self.source.tokens.issue(account, seconds=self.source.token_seconds, bound=self.pod)
        temporary = self.token_path.with_suffix(".tmp")
        temporary.write_text(token)
        temporary.chmod(0o600)
        os.replace(temporary, self.token_path)  # readers see the old token or the new, never half
        self.expires_at = float(expiry)

    async def _refresh(self) -> None:
        while True:
            lifetime = self.source.token_seconds
            refresh_at = self.expires_at - lifetime * (1 - REFRESH_FRACTION)
            await asyncio.sleep(max(0.5, refresh_at - time.time()))
            account = self.source.tokens.store.get("/v1/serviceaccounts", self.namespace, self.account)
            if account is None:
                continue  # the account is gone: its tokens no longer authenticate anyway
            with contextlib.suppress(OSError):
                self._write_token(account)

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
