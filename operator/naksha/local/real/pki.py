"""The certificates of a local Kubernetes control plane, made with the ``openssl`` command.

One ECDSA (P-256) certificate authority signs: the API server's serving certificate (for
127.0.0.1 and ``localhost``), the node agent's serving certificate (the API server calls it for
``pods/log``), and client certificates whose subject is the identity RBAC sees (common name =
user, organisation = group). A separate key pair signs service-account tokens.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = 365


class PkiError(RuntimeError):
    """openssl is missing or refused a step; the message says which."""


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca: KeyPair
    apiserver: KeyPair
    node_serving: KeyPair
    admin: KeyPair  # system:masters
    controller_manager: KeyPair  # system:kube-controller-manager
    scheduler: KeyPair  # system:kube-scheduler
    apiserver_kubelet_client: KeyPair  # how the API server identifies itself to the node agent
    service_account_key: Path
    service_account_pub: Path


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PkiError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _ec_key(path: Path) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(path), cwd=path.parent)
    path.chmod(0o600)


def _signed(
    directory: Path, ca: KeyPair, name: str, subject: str, *, server_names: tuple[str, ...] = ()
) -> KeyPair:
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    _ec_key(pair.key)
    csr = directory / f"{name}.csr"
    _openssl("req", "-new", "-key", str(pair.key), "-subj", subject, "-out", str(csr), cwd=directory)
    usage = "serverAuth" if server_names else "clientAuth"
    extensions = directory / f"{name}.ext"
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if server_names:
        alt = [f"IP:{n}" if n[0].isdigit() else f"DNS:{n}" for n in server_names]
        lines.append("subjectAltName=" + ",".join(alt))
    extensions.write_text("\n".join(lines) + "\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca.cert),
        "-CAkey",
        str(ca.key),
        "-CAcreateserial",
        "-days",
        str(DAYS),
        "-sha256",
        "-extfile",
        str(extensions),
        "-out",
        str(pair.cert),
        cwd=directory,
    )
    csr.unlink()
    extensions.unlink()
    return pair


def make_pki(directory: Path, *, node_name: str) -> Pki:
    """Write a fresh PKI into ``directory`` (created); nothing leaves it."""
    if shutil.which("openssl") is None:
        raise PkiError("the openssl command is needed to make the control plane's certificates")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    ca = KeyPair(directory / "ca.crt", directory / "ca.key")
    _ec_key(ca.key)
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        str(ca.key),
        "-subj",
        "/CN=naksha-local-ca",
        "-days",
        str(DAYS),
        "-sha256",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        "-out",
        str(ca.cert),
        cwd=directory,
    )
    local = ("127.0.0.1", "localhost")
    cluster_names = ("kubernetes", "kubernetes.default", "kubernetes.default.svc")
    sa_key = directory / "sa.key"
    sa_pub = directory / "sa.pub"
    _ec_key(sa_key)
    _openssl("ec", "-in", str(sa_key), "-pubout", "-out", str(sa_pub), cwd=directory)
    return Pki(
        directory=directory,
        ca=ca,
        apiserver=_signed(
            directory, ca, "apiserver", "/CN=kube-apiserver", server_names=local + cluster_names
        ),
        node_serving=_signed(directory, ca, "node-serving", f"/CN={node_name}", server_names=local),
        admin=_signed(directory, ca, "admin", "/O=system:masters/CN=naksha-admin"),
        controller_manager=_signed(directory, ca, "controller-manager", "/CN=system:kube-controller-manager"),
        scheduler=_signed(directory, ca, "scheduler", "/CN=system:kube-scheduler"),
        apiserver_kubelet_client=_signed(
            directory, ca, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client"
        ),
        service_account_key=sa_key,
        service_account_pub=sa_pub,
    )
