"""TLS for Naksha's HTTP endpoints, from the files of a ``kubernetes.io/tls`` Secret.

A Secret of type ``kubernetes.io/tls`` — what cert-manager's ``Certificate`` writes — mounted as a
directory holds ``tls.crt`` and ``tls.key`` (and, from cert-manager, ``ca.crt``). The server reads
them from that directory. With a client CA (a file of PEM certificates) it also asks every client
for a certificate signed by it (mutual TLS) and refuses the handshake without one.
The certificate is read when the server starts: a renewed certificate is served after a restart
(cert-manager renews well before expiry; a rollout on renewal is the usual practice).
"""

from __future__ import annotations

import os
import ssl
from typing import Any

from naksha.errors import NakshaError


class TlsConfigError(NakshaError, ValueError):
    """The certificate, key or client CA cannot be used; the message names the file."""


def server_context(directory: str, *, client_ca: str = "") -> ssl.SSLContext:
    certificate, key = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certificate, key)
    except (OSError, ssl.SSLError) as error:
        raise TlsConfigError(f"cannot load {certificate} with {key}: {error}") from None
    if client_ca:
        try:
            context.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as error:
            raise TlsConfigError(f"cannot load the client CA {client_ca}: {error}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_subject(peer: Any) -> str:
    """The common name of a verified client certificate (``""`` without one), for logs and limits."""
    for part in (peer or {}).get("subject", ()) or ():
        for name, value in part:
            if name == "commonName":
                return str(value)
    return ""
