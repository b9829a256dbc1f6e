"""The hub and the edge agent as real processes on loopback, against the local control plane.

One hub (self-signed TLS) and one agent reaching it through a TCP proxy the tests can black out.
The tests run in file order and share them: registration, refusals, rotation, an unreachable
hub, a hub restart, revocation, results.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from kubernetes import client
from tests.support import Kubectl, eventually
from tests.support.federation import GROUP, VERSION, Federation, condition, federation_running, registration

from naksha.domain.federation import tokens


@pytest.fixture(scope="module")
def federation(
    control_plane: Any,
    naksha_crds: None,
    api_client: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Federation]:
    with federation_running(control_plane, api_client, tmp_path_factory.mktemp("federation")) as fed:
        yield fed


def ready_node(federation: Federation, name: str) -> dict[str, Any] | None:
    node = federation.node(name)
    return node if condition(node, "Ready").get("status") == "True" else None


def refusal_reason(federation: Federation, credential: str) -> str | None:
    """The reason a heartbeat with ``credential`` is refused with 403 (None while it is accepted)."""
    answer = federation.post("/federation/heartbeat", {}, token=credential)
    return str(answer.json()["reason"]) if answer.status_code == 403 else None


class TestRegistration:
    def test_the_agent_registers_and_its_edgenode_turns_ready_with_its_capabilities(
        self, federation: Federation
    ) -> None:
        node = eventually(lambda: ready_node(federation, "edge-1"), timeout=90)
        assert node["status"]["capabilities"] == ["run-command", "collect-diagnostics"]
        assert node["status"]["keyThumbprint"]
        assert (federation.state_dir / "node.key").stat().st_mode & 0o777 == 0o600

    def test_kubectl_and_the_registry_command_show_the_node(self, federation: Federation) -> None:
        kubectl = Kubectl(federation.kubeconfig)
        table = kubectl("get", "edgenodes", "-n", federation.namespace, "-o", "wide").stdout
        assert "edge-1" in table and "True" in table and "run-command" in table
        registry = json.loads(federation.naksha("edge", "registry", "--json", "-n", federation.namespace))
        assert [(n["name"], n["ready"]) for n in registry["nodes"]] == [("edge-1", "True")]


class TestManualApproval:
    def test_a_node_not_yet_approved_waits_then_registers_once_approved(self, federation: Federation) -> None:
        federation.create_node("edge-m", approved=False)
        token, key = federation.bootstrap_token("edge-m"), tokens.generate_key()
        waiting = federation.register("edge-m", token, key)
        assert (waiting.status_code, waiting.json()["status"]) == (202, "AwaitingApproval")
        thumbprint = tokens.thumbprint(key.public_key())
        eventually(lambda: federation.node("edge-m")["status"].get("pendingKeyThumbprint") == thumbprint)
        assert "approved" in federation.naksha("edge", "approve", "edge-m", "-n", federation.namespace)
        answer = eventually(lambda: (a := federation.register("edge-m", token, key)).status_code == 200 and a)
        assert answer.json()["node"] == "edge-m"
        assert federation.register("edge-m", token, key).json()["reason"] == "Replayed"


class TestRefusals:
    """Each bad request gets its status and creates or changes nothing."""

    @pytest.fixture(autouse=True)
    def nothing_created(self, federation: Federation) -> Iterator[None]:
        before = federation.node_names()
        yield
        assert federation.node_names() == before

    def test_a_body_that_is_not_json_is_400(self, federation: Federation) -> None:
        answer = federation.post("/federation/register", raw=b"{not json")
        assert (answer.status_code, answer.json()["reason"]) == (400, "MalformedBody")

    def test_a_body_of_the_wrong_shape_is_400(self, federation: Federation) -> None:
        assert federation.post("/federation/register", {"node": "x"}).status_code == 400

    def test_an_oversized_body_is_413(self, federation: Federation) -> None:
        assert federation.post("/federation/register", raw=b"[" + b"1," * 60_000 + b"1]").status_code == 413

    def test_a_garbage_bootstrap_token_is_401(self, federation: Federation) -> None:
        answer = federation.register("edge-x", "not.a.token")
        assert (answer.status_code, answer.json()["reason"]) == (401, "MalformedToken")

    def test_an_unsigned_bootstrap_token_is_401(self, federation: Federation) -> None:
        claims = jwt.decode(federation.bootstrap_token("edge-x"), options={"verify_signature": False})
        header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        answer = federation.register("edge-x", f"{header}.{payload}.")
        assert answer.json()["reason"] == "AlgorithmNotAllowed"

    def test_a_token_for_another_node_name_is_403(self, federation: Federation) -> None:
        answer = federation.register("edge-y", federation.bootstrap_token("edge-x"))
        assert (answer.status_code, answer.json()["reason"]) == (403, "NodeMismatch")

    def test_the_agent_s_used_bootstrap_token_replayed_is_409(self, federation: Federation) -> None:
        answer = federation.register("edge-1", (federation.root / "bootstrap-edge-1").read_text())
        assert (answer.status_code, answer.json()["reason"]) == (409, "Replayed")

    def test_a_proof_signed_by_another_key_is_401(self, federation: Federation) -> None:
        body = registration("edge-x", federation.bootstrap_token("edge-x"), tokens.generate_key())
        body["proof"] = tokens.mint_proof(
            tokens.generate_key(), node="edge-x", use="register", now=time.time()
        )
        answer = federation.post("/federation/register", body)
        assert (answer.status_code, answer.json()["reason"]) == (401, "BadSignature")

    def test_a_heartbeat_without_a_credential_is_401(self, federation: Federation) -> None:
        assert federation.post("/federation/heartbeat", {}).status_code == 401

    def test_a_bootstrap_token_used_as_a_credential_is_401(self, federation: Federation) -> None:
        answer = federation.post("/federation/heartbeat", {}, token=federation.bootstrap_token("edge-1"))
        assert answer.json()["reason"] == "WrongTokenType"

    def test_a_slow_client_is_cut_off(self, federation: Federation) -> None:
        context = ssl.create_default_context(cafile=federation.ca)
        with (
            socket.create_connection(("127.0.0.1", federation.hub_port), timeout=30) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(
                b"POST /federation/register HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
                b"Content-Length: 500\r\n\r\n{"
            )
            answer = tls.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 408"), answer


class TestRateLimits:
    def test_a_node_calling_too_often_is_429(self, federation: Federation) -> None:
        credential = federation.register("edge-r", federation.bootstrap_token("edge-r")).json()["credential"]
        codes = [
            federation.post("/federation/heartbeat", {}, token=credential).status_code for _ in range(40)
        ]
        assert 429 in codes and codes[0] == 200


class TestRotation:
    def test_the_credential_is_replaced_before_expiry_with_no_failed_heartbeat(
        self, federation: Federation
    ) -> None:
        first = federation.credential()
        eventually(lambda: federation.credential() != first, timeout=30)
        second = federation.credential()
        eventually(lambda: federation.credential() != second, timeout=30)
        assert federation.agent is not None
        assert "heartbeat failed" not in federation.agent.output()
        assert condition(federation.node("edge-1"), "Ready")["status"] == "True"


class TestUnreachableHub:
    def test_silence_turns_the_node_unknown_and_queued_results_upload_when_it_returns(
        self, federation: Federation
    ) -> None:
        assert federation.proxy is not None and federation.agent is not None
        request = federation.trigger("edge-1", "run-command", {"command": "pause", "args": {"seconds": "3"}})
        jti = eventually(
            lambda: federation.core.read_namespaced_config_map(request, federation.namespace).data.get("jti")
        )
        federation.agent.wait_for_log(f"running trigger {jti}", timeout=30)
        federation.proxy.cut()
        cut_at = time.time()
        # offlineAfter 4s + one heartbeat interval 1s, plus the hub's tick and the write.
        eventually(
            lambda: condition(federation.node("edge-1"), "Ready").get("status") == "Unknown", timeout=15
        )
        assert time.time() - cut_at <= 4 + 1 + 2
        eventually(lambda: any((federation.state_dir / "results").glob("*.json")), timeout=15)
        assert federation.result(request) is None
        federation.proxy.restore()
        eventually(lambda: condition(federation.node("edge-1"), "Ready").get("status") == "True", timeout=30)
        result = eventually(lambda: federation.result(request), timeout=30)
        assert result["outcome"] == "Succeeded" and result["exitCode"] == 0
        assert not any((federation.state_dir / "results").glob("*.json"))


class TestTriggersAndResults:
    def test_an_allow_listed_command_runs_and_its_result_is_recorded(self, federation: Federation) -> None:
        request = federation.trigger("edge-1", "run-command", {"command": "greet", "args": {"name": "edge"}})
        result = eventually(lambda: federation.result(request), timeout=60)
        assert (result["outcome"], result["output"].strip()) == ("Succeeded", "hello edge")

    def test_a_command_outside_the_allow_list_is_refused_and_not_run(self, federation: Federation) -> None:
        request = federation.trigger("edge-1", "restart-service", {"service": "sshd"})
        result = eventually(lambda: federation.result(request), timeout=60)
        assert result["outcome"] == "Refused" and "WpkNotAllowed" in result["reason"]

    def test_a_replayed_result_changes_nothing(self, federation: Federation) -> None:
        request = federation.trigger("edge-1", "run-command", {"command": "greet", "args": {"name": "once"}})
        first = eventually(lambda: federation.result(request), timeout=60)
        replay = {"results": [{"jti": first["jti"], "outcome": "Failed", "exitCode": 1}]}
        answer = federation.post("/federation/results", replay, token=federation.credential())
        assert answer.status_code == 409
        assert federation.result(request) == first

    def test_a_node_cannot_report_the_result_of_another_node_s_trigger(self, federation: Federation) -> None:
        request = federation.trigger("edge-1", "run-command", {"command": "pause", "args": {"seconds": "2"}})
        jti = eventually(
            lambda: federation.core.read_namespaced_config_map(request, federation.namespace).data.get("jti")
        )
        other = federation.register("edge-o", federation.bootstrap_token("edge-o")).json()["credential"]
        forged = {"results": [{"jti": jti, "outcome": "Failed", "exitCode": 1}]}
        answer = federation.post("/federation/results", forged, token=other)
        assert (answer.status_code, answer.json()["results"][jti]) == (403, "NodeMismatch")
        assert eventually(lambda: federation.result(request), timeout=60)["outcome"] == "Succeeded"

    def test_a_trigger_for_a_cordoned_node_is_refused_by_the_hub(self, federation: Federation) -> None:
        patch = {"spec": {"unschedulable": True}}
        federation.custom.patch_namespaced_custom_object(
            GROUP, VERSION, federation.namespace, "edgenodes", "edge-1", patch
        )
        time.sleep(0.5)
        try:
            request = federation.trigger(
                "edge-1", "run-command", {"command": "greet", "args": {"name": "no"}}
            )
            result = eventually(lambda: federation.result(request), timeout=60)
            assert result["outcome"] == "Refused" and "cordoned" in result["reason"]
        finally:
            patch = {"spec": {"unschedulable": False}}
            federation.custom.patch_namespaced_custom_object(
                GROUP, VERSION, federation.namespace, "edgenodes", "edge-1", patch
            )


class TestHubRestart:
    def test_a_restarted_hub_keeps_the_node_ready_and_still_refuses_a_replayed_bootstrap_token(
        self, federation: Federation
    ) -> None:
        assert federation.hub is not None
        before = condition(federation.node("edge-1"), "Ready")
        assert before["status"] == "True"
        federation.hub.stop()
        federation.start_hub()
        for _ in range(16):  # 8 s: twice offlineAfter, never Unknown
            assert condition(federation.node("edge-1"), "Ready")["status"] == "True"
            time.sleep(0.5)
        after = condition(federation.node("edge-1"), "Ready")
        assert after["lastTransitionTime"] == before["lastTransitionTime"]
        answer = federation.register("edge-1", (federation.root / "bootstrap-edge-1").read_text())
        assert (answer.status_code, answer.json()["reason"]) == (409, "Replayed")


class TestRevocation:
    def test_a_revoked_node_is_refused_within_a_second(self, federation: Federation) -> None:
        answer = federation.register("edge-2", federation.bootstrap_token("edge-2"))
        assert answer.status_code == 200, answer.text
        credential = answer.json()["credential"]
        assert federation.post("/federation/heartbeat", {}, token=credential).status_code == 200
        patch = {"spec": {"credentials": {"revoked": True}}}
        federation.custom.patch_namespaced_custom_object(
            GROUP, VERSION, federation.namespace, "edgenodes", "edge-2", patch
        )
        revoked_at = time.monotonic()
        reason = eventually(lambda: refusal_reason(federation, credential), timeout=5, interval=0.05)
        assert time.monotonic() - revoked_at < 1.0
        assert reason == "NodeRevoked"

    def test_a_deleted_node_is_refused_within_a_second(self, federation: Federation) -> None:
        answer = federation.register("edge-3", federation.bootstrap_token("edge-3"))
        credential = answer.json()["credential"]
        federation.custom.delete_namespaced_custom_object(
            GROUP, VERSION, federation.namespace, "edgenodes", "edge-3"
        )
        deleted_at = time.monotonic()
        reason = eventually(lambda: refusal_reason(federation, credential), timeout=5, interval=0.05)
        assert time.monotonic() - deleted_at < 1.0
        assert reason == "NodeUnknown"
