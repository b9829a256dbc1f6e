"""A loopback HTTP(S) server that records who called it, for the credential tests.

It stands in for the API server only where what is under test is what the client sends: the
``Authorization`` header, or the client certificate presented in the TLS handshake. Every
request is answered with a small ConfigMap (or 401 when ``accepted`` tokens are set and the
request carries none of them). ``Pki`` makes a CA, a server certificate for 127.0.0.1 and a
client certificate with the real ``openssl``.
"""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None
    client_subject: str | None


@dataclass
class Pki:
    directory: Path

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._openssl("req", "-x509", *EC_KEY, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=ca")
        self.issue("server", "/CN=127.0.0.1", extension="subjectAltName=IP:127.0.0.1")
        self.issue("client", "/O=naksha-testers/CN=naksha-client", extension="extendedKeyUsage=clientAuth")

    def path(self, name: str) -> str:
        return str(self.directory / name)

    def issue(self, name: str, subject: str, *, extension: str) -> None:
        self._openssl("req", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
        (self.directory / f"{name}.ext").write_text(extension + "\n")
        signing = ("-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1")
        request = ("-in", f"{name}.csr", "-extfile", f"{name}.ext")
        self._openssl("x509", "-req", *request, *signing, "-out", f"{name}.crt")

    def _openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], cwd=self.directory, check=True, capture_output=True)


@dataclass
class RecordingServer:
    pki: Pki | None = None
    require_client_certificate: bool = False
    accepted: set[str] = field(default_factory=set)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                authorization = self.headers.get("Authorization")
                subject = None
                if isinstance(self.connection, ssl.SSLSocket):
                    peer: Any = self.connection.getpeercert()
                    if peer:
                        subject = ",".join(f"{k}={v}" for rdn in peer["subject"] for k, v in rdn)
                recorder.seen.append(Seen(self.command, self.path, authorization, subject))
                token = (authorization or "").partition(" ")[2]
                if recorder.accepted and token not in recorder.accepted:
                    self._json(401, {"kind": "Status", "reason": "Unauthorized", "message": "Unauthorized"})
                    return
                self._json(200, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seen"}})

            def _json(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.pki is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.pki.path("server.crt"), self.pki.path("server.key"))
            if self.require_client_certificate:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(self.pki.path("ca.crt"))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.pki else 'http'}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
