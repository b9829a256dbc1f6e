"""Naksha's own API client sends the credentials of every kind the kubernetes client supports.

A loopback server records what arrives: the ``Authorization`` header, or the client certificate
of the TLS handshake. Each kind is loaded the way the operator loads it (``Kube()`` with only the
environment to go on), and kopf's login handler is checked to present the same identity.
"""

from __future__ import annotations

import datetime
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.config import incluster_config
from tests.support.apiserver_double import Pki, RecordingServer
from tests.support.identities import apply, service_account_token, token_kubeconfig

from naksha.handlers.lifecycle import login
from naksha.kube import Kube, KubeError
from naksha.models.resources import CONFIG_MAPS


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    recording = RecordingServer()
    yield recording
    recording.stop()


@pytest.fixture
def outside_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def write_kubeconfig(path: Path, server: str, user: dict[str, Any], **cluster: Any) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "team-a"}}],
        "current-context": "x",
    }
    path.write_text(yaml.safe_dump(document))
    return path


def use(monkeypatch: pytest.MonkeyPatch, kubeconfig: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))


def headers(server: RecordingServer) -> list[str | None]:
    return [seen.authorization for seen in server.seen]


class TestBearerTokens:
    def test_a_kubeconfig_token_goes_out_on_every_verb(self, server, tmp_path, monkeypatch, outside_a_pod):
        use(monkeypatch, write_kubeconfig(tmp_path / "config", server.url, {"token": "t-1"}))
        kube = Kube()
        kube.get(CONFIG_MAPS, "team-a", "x")
        kube.list(CONFIG_MAPS, "team-a")
        kube.merge_patch(CONFIG_MAPS, "team-a", "x", {"data": {"a": "b"}})
        kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y", "namespace": "t"}})
        kube.delete(CONFIG_MAPS, "team-a", "x")
        assert headers(server) == ["Bearer t-1"] * 5

    def test_a_kubeconfig_token_file_is_followed_when_it_is_rewritten(
        self, server, tmp_path, monkeypatch, outside_a_pod
    ):
        token_file = tmp_path / "token"
        token_file.write_text("first\n")
        use(monkeypatch, write_kubeconfig(tmp_path / "config", server.url, {"tokenFile": "token"}))
        kube = Kube()
        kube.get(CONFIG_MAPS, "team-a", "x")
        token_file.write_text("second-and-longer\n")
        kube.get(CONFIG_MAPS, "team-a", "x")
        assert headers(server) == ["Bearer first", "Bearer second-and-longer"]

    def test_a_revoked_token_is_reloaded_once_after_a_401_and_the_request_retried(
        self, server, tmp_path, monkeypatch, outside_a_pod
    ):
        kubeconfig = write_kubeconfig(tmp_path / "config", server.url, {"token": "old"})
        use(monkeypatch, kubeconfig)
        server.accepted = {"new"}
        kube = Kube()
        write_kubeconfig(kubeconfig, server.url, {"token": "new"})
        assert kube.get(CONFIG_MAPS, "team-a", "x")["metadata"]["name"] == "seen"
        assert headers(server) == ["Bearer old", "Bearer new"]

    def test_a_token_nobody_accepts_ends_in_a_401_error_after_one_retry(
        self, server, tmp_path, monkeypatch, outside_a_pod
    ):
        use(monkeypatch, write_kubeconfig(tmp_path / "config", server.url, {"token": "wrong"}))
        server.accepted = {"right"}
        with pytest.raises(KubeError) as raised:
            Kube().get(CONFIG_MAPS, "team-a", "x")
        assert raised.value.status == 401 and not raised.value.retryable
        assert headers(server) == ["Bearer wrong", "Bearer wrong"]


class TestInCluster:
    @pytest.fixture
    def pod(self, pki, tmp_path, monkeypatch) -> Iterator[tuple[RecordingServer, Path]]:
        server = RecordingServer(pki=pki)
        account = tmp_path / "serviceaccount"
        account.mkdir()
        (account / "token").write_text("sa-token-1")
        (account / "namespace").write_text("team-b")
        (account / "ca.crt").write_text(Path(pki.path("ca.crt")).read_text())
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
        monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(account / "token"))
        monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(account / "ca.crt"))
        yield server, account
        server.stop()

    def test_the_service_account_token_goes_out_over_tls_verified_by_the_mounted_ca(self, pod):
        server, _ = pod
        Kube().get(CONFIG_MAPS, "team-b", "x")
        assert headers(server) == ["Bearer sa-token-1"]

    def test_a_projected_token_refreshed_on_disk_is_sent_from_the_next_request_on(self, pod):
        server, account = pod
        kube = Kube()
        kube.get(CONFIG_MAPS, "team-b", "x")
        # The kubelet writes the refreshed token atomically: a new file renamed over the old one.
        (account / "token.new").write_text("sa-token-2-rotated")
        os.replace(account / "token.new", account / "token")
        kube.get(CONFIG_MAPS, "team-b", "x")
        assert headers(server) == ["Bearer sa-token-1", "Bearer sa-token-2-rotated"]

    def test_kopf_logs_in_with_the_same_token_ca_and_namespace(self, pod):
        server, account = pod
        info = login()
        assert info.server == server.url and str(info.ca_path) == str(account / "ca.crt")
        assert info.as_http_headers() == {"Authorization": "Bearer sa-token-1"}
        assert info.default_namespace == "team-b"


class TestClientCertificates:
    def test_the_client_certificate_is_presented_and_no_header_is_invented(
        self, pki, tmp_path, monkeypatch, outside_a_pod
    ):
        server = RecordingServer(pki=pki, require_client_certificate=True)
        try:
            user = {"client-certificate": pki.path("client.crt"), "client-key": pki.path("client.key")}
            kubeconfig = write_kubeconfig(
                tmp_path / "config", server.url, user, **{"certificate-authority": pki.path("ca.crt")}
            )
            use(monkeypatch, kubeconfig)
            Kube().get(CONFIG_MAPS, "team-a", "x")
            assert [(s.client_subject, s.authorization) for s in server.seen] == [
                ("organizationName=naksha-testers,commonName=naksha-client", None)
            ]
            info = login()
            assert info.certificate_path == pki.path("client.crt")
            assert info.private_key_path == pki.path("client.key") and info.token is None
        finally:
            server.stop()


class TestExecPlugins:
    def plugin(self, tmp_path: Path, *, expires_in: float | None) -> dict[str, Any]:
        """An exec plugin that hands out ``exec-<n>``, n counting its runs (kept in a file)."""
        counter = tmp_path / "runs"
        expiry = ""
        if expires_in is not None:
            stamp = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=expires_in)
            expiry = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        script = tmp_path / "plugin.py"
        script.write_text(
            textwrap.dedent(f"""
                import json, pathlib
                counter = pathlib.Path({str(counter)!r})
                runs = int(counter.read_text()) + 1 if counter.exists() else 1
                counter.write_text(str(runs))
                status = {{"token": f"exec-{{runs}}"}}
                if {expiry!r}:
                    status["expirationTimestamp"] = {expiry!r}
                print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1",
                                  "kind": "ExecCredential", "status": status}}))
            """)
        )
        return {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": sys.executable,
                "args": [str(script)],
                "interactiveMode": "Never",
            }
        }

    def test_the_plugins_token_goes_out_and_is_reused_while_it_is_valid(
        self, server, tmp_path, monkeypatch, outside_a_pod
    ):
        plugin = self.plugin(tmp_path, expires_in=3600)
        use(monkeypatch, write_kubeconfig(tmp_path / "config", server.url, plugin))
        kube = Kube()
        kube.get(CONFIG_MAPS, "team-a", "x")
        kube.get(CONFIG_MAPS, "team-a", "x")
        assert headers(server) == ["Bearer exec-1", "Bearer exec-1"]
        assert login().as_http_headers() == {"Authorization": "Bearer exec-2"}  # kopf ran it anew

    def test_an_expired_credential_runs_the_plugin_again_before_the_next_request(
        self, server, tmp_path, monkeypatch, outside_a_pod
    ):
        # Already inside the client's expiry margin: every request needs a fresh credential.
        plugin = self.plugin(tmp_path, expires_in=5)
        use(monkeypatch, write_kubeconfig(tmp_path / "config", server.url, plugin))
        kube = Kube()
        kube.get(CONFIG_MAPS, "team-a", "x")
        kube.get(CONFIG_MAPS, "team-a", "x")
        assert headers(server) == ["Bearer exec-2", "Bearer exec-3"]
        assert login().expiration is not None

    def test_a_plugin_credential_refused_with_401_is_replaced_by_a_new_run(
        self, server, tmp_path, monkeypatch, outside_a_pod
    ):
        plugin = self.plugin(tmp_path, expires_in=None)
        use(monkeypatch, write_kubeconfig(tmp_path / "config", server.url, plugin))
        server.accepted = {"exec-2"}
        assert Kube().get(CONFIG_MAPS, "team-a", "x")["metadata"]["name"] == "seen"
        assert headers(server) == ["Bearer exec-1", "Bearer exec-2"]


class TestKopfLogin:
    def test_kopf_gets_the_kubeconfig_token_server_and_namespace(
        self, server, tmp_path, monkeypatch, outside_a_pod
    ):
        use(monkeypatch, write_kubeconfig(tmp_path / "config", server.url, {"token": "t-9"}))
        info = login()
        assert (info.server, info.default_namespace) == (server.url, "team-a")
        assert info.as_http_headers() == {"Authorization": "Bearer t-9"}


class TestOnTheLocalControlPlane:
    """The same client against a server that authenticates and evaluates RBAC."""

    @pytest.fixture
    def reader(self, kubectl, fresh_namespace) -> str:
        apply(
            kubectl,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "read-configmaps"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
            },
            fresh_namespace,
        )
        apply(
            kubectl,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "reader"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "read-configmaps",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": fresh_namespace}],
            },
            fresh_namespace,
        )
        return service_account_token(kubectl, fresh_namespace, "reader")

    def kubeconfig_with_token_file(self, control_plane, tmp_path: Path, token: str) -> Path:
        kubeconfig = token_kubeconfig(control_plane, "unused", tmp_path / "config")
        document = yaml.safe_load(kubeconfig.read_text())
        document["users"][0]["user"] = {"tokenFile": "token"}
        kubeconfig.write_text(yaml.safe_dump(document))
        (tmp_path / "token").write_text(token)
        return kubeconfig

    def test_a_service_account_token_is_allowed_its_rules_and_denied_the_rest(
        self, control_plane, reader, fresh_namespace, tmp_path, monkeypatch, outside_a_pod
    ):
        use(monkeypatch, self.kubeconfig_with_token_file(control_plane, tmp_path, reader))
        kube = Kube()
        assert kube.list(CONFIG_MAPS, fresh_namespace) is not None
        with pytest.raises(KubeError) as raised:
            kube.merge_patch(CONFIG_MAPS, fresh_namespace, "x", {"data": {"a": "b"}})
        assert raised.value.status == 403 and "system:serviceaccount" in raised.value.message

    def test_the_token_file_is_read_again_when_it_changes(
        self, control_plane, kubectl, reader, fresh_namespace, tmp_path, monkeypatch, outside_a_pod
    ):
        use(monkeypatch, self.kubeconfig_with_token_file(control_plane, tmp_path, reader))
        kube = Kube()
        kube.list(CONFIG_MAPS, fresh_namespace)
        (tmp_path / "token").write_text("not-a-token-any-more")
        with pytest.raises(KubeError) as raised:
            kube.list(CONFIG_MAPS, fresh_namespace)
        assert raised.value.status == 401
        (tmp_path / "token").write_text(service_account_token(kubectl, fresh_namespace, "reader"))
        assert kube.list(CONFIG_MAPS, fresh_namespace) is not None
