"""The real control plane's certificates: one CA, the right names, identities and usages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from naksha.local.real.pki import make_pki

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def text_of(cert: Path) -> str:
    printed = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text"], capture_output=True, text=True, check=True
    ).stdout
    return printed.replace(" = ", "=")  # OpenSSL 3 prints "O = system:masters"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):
    return make_pki(tmp_path_factory.mktemp("pki") / "pki", node_name="local-node")


def test_every_certificate_is_signed_by_the_ca(pki):
    for pair in (pki.apiserver, pki.node_serving, pki.admin, pki.controller_manager, pki.scheduler):
        verified = subprocess.run(
            ["openssl", "verify", "-CAfile", str(pki.ca.cert), str(pair.cert)], capture_output=True, text=True
        )
        assert verified.returncode == 0, verified.stderr


def test_serving_certificates_name_loopback_and_clients_carry_their_rbac_identity(pki):
    apiserver = text_of(pki.apiserver.cert)
    assert "IP Address:127.0.0.1" in apiserver and "TLS Web Server Authentication" in apiserver
    admin = text_of(pki.admin.cert)
    assert "O=system:masters" in admin and "TLS Web Client Authentication" in admin
    assert "CN=system:kube-controller-manager" in text_of(pki.controller_manager.cert)
    assert "ASN1 OID: prime256v1" in text_of(pki.ca.cert)  # ECDSA P-256


def test_private_keys_are_readable_by_the_owner_only(pki):
    for key in (pki.ca.key, pki.admin.key, pki.service_account_key):
        assert key.stat().st_mode & 0o077 == 0
    assert pki.service_account_pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
