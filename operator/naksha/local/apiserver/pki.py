"""The local control plane's certificates: a CA, the API server's serving certificate, client certificates.

The API is served over TLS so that clients can authenticate with a client certificate, as they
do against a real API server (the user is the certificate's common name, its groups the
organizations). Every control plane makes its own CA; nothing is shared between instances.
Elliptic-curve keys (P-256) keep generation to milliseconds.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, PEM-encoded."""

    certificate: bytes
    key: bytes


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class CertificateAuthority:
    """Issues the serving certificate and client certificates of one control plane."""

    def __init__(self, common_name: str = "naksha-local-ca") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = _name(common_name)
        now = datetime.datetime.now(datetime.UTC)
        self._certificate = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.certificate = self._certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        *,
        organizations: tuple[str, ...] = (),
        hosts: tuple[str, ...] = (),
        server: bool = False,
    ) -> KeyPair:
        """A certificate for a server (``hosts`` as SANs) or a client (user ``common_name``)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organizations))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if hosts:
            names: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        return KeyPair(certificate.public_bytes(serialization.Encoding.PEM), _pem_key(key))

    def server_context(self, directory: Path, hosts: tuple[str, ...]) -> ssl.SSLContext:
        """A TLS server context that asks for (but does not require) a client certificate of this CA.

        Requests without a certificate go on to bearer-token authentication, as on a real server.
        """
        directory.mkdir(parents=True, exist_ok=True)
        serving = self.issue("naksha-local-apiserver", hosts=hosts, server=True)
        cert_path, key_path, ca_path = (
            directory / "apiserver.crt",
            directory / "apiserver.key",
            directory / "ca.crt",
        )
        cert_path.write_bytes(serving.certificate)
        key_path.write_bytes(serving.key)
        key_path.chmod(0o600)
        ca_path.write_bytes(self.certificate)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca_path))
        context.load_cert_chain(str(cert_path), str(key_path))
        context.verify_mode = ssl.CERT_OPTIONAL
        return context


def subject_of(peer_certificate: dict[str, object] | None) -> tuple[str, tuple[str, ...]] | None:
    """The user (common name) and groups (organizations) of a verified peer certificate."""
    if not peer_certificate:
        return None
    common_name = ""
    organizations: list[str] = []
    for rdn in peer_certificate.get("subject") or ():  # type: ignore[attr-defined]
        for key, value in rdn:
            if key == "commonName":
                common_name = value
            elif key == "organizationName":
                organizations.append(value)
    return (common_name, tuple(organizations)) if common_name else None
