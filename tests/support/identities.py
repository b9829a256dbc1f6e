"""Identities other than the admin for tests of the local control plane: ServiceAccount tokens as clients."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from tests.support import Kubectl, eventually


def token_kubeconfig(control_plane: Any, token: str, path: Path) -> Path:
    """A kubeconfig for the control plane that authenticates with ``token`` (and no certificate)."""
    ca = (Path(control_plane.state_dir) / "pki" / "ca.crt").read_bytes()
    cluster = {"server": control_plane.url, "certificate-authority-data": base64.b64encode(ca).decode()}
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "bearer", "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "bearer"}}],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(document))
    return path


def service_account_token(kubectl: Kubectl, namespace: str, name: str, *args: str) -> str:
    """``kubectl create token`` for ServiceAccount ``namespace/name`` (created if missing)."""
    if name == "default":  # made by the control plane's ServiceAccount controller
        eventually(lambda: kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0)
    else:
        apply(kubectl, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}, namespace)
    return kubectl("create", "token", name, "-n", namespace, *args).stdout.strip()


def apply(kubectl: Kubectl, obj: dict[str, Any], namespace: str | None = None) -> None:
    """``kubectl apply`` of one object (imperative ``kubectl create`` sends protobuf the emulator refuses)."""
    kubectl("apply", *(["-n", namespace] if namespace else []), "-f", "-", input=yaml.safe_dump(obj))


def token_client(control_plane: Any, token: str, tmp_path: Path) -> client.ApiClient:
    """The real ``kubernetes`` client acting as the bearer of ``token``."""
    kubeconfig = token_kubeconfig(control_plane, token, tmp_path / f"kubeconfig-{abs(hash(token))}")
    return config.new_client_from_config(config_file=str(kubeconfig))
