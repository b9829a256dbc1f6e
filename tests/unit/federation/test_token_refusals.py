"""The federation tokens' refusal matrix: every way a token can be wrong is refused by name."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from naksha.domain.federation import allowlist, tokens, triggers
from naksha.domain.federation.ledger import ReplayLedger
from naksha.domain.federation.refusals import RefusalReason, Refused

NOW = 1_800_000_000.0
NS = "edge"
HUB = tokens.generate_key()
NODE_KEY = tokens.generate_key()
CONFIG = allowlist.AgentConfig.model_validate(
    {
        "capabilities": ["run-command", "collect-diagnostics"],
        "commands": {"greet": {"argv": ["/bin/echo", "hello", "{name}"], "params": {"name": "[a-z]{1,16}"}}},
    }
)


def refusal(call: object) -> Refused:
    assert callable(call)
    with pytest.raises(Refused) as caught:
        call()
    return caught.value


def verify_bootstrap(token: str, now: float = NOW) -> tokens.Verified:
    return tokens.verify(
        token, HUB.public_key(), kind=tokens.BOOTSTRAP, audience=tokens.REGISTER_AUDIENCE, now=now
    )


def verify_node(token: str, now: float = NOW) -> tokens.Verified:
    return tokens.verify(token, HUB.public_key(), kind=tokens.NODE, audience=tokens.HUB_AUDIENCE, now=now)


def bootstrap(node: str = "edge-1", ttl: float = 3600, now: float = NOW) -> str:
    return tokens.mint_bootstrap(HUB, namespace=NS, node=node, ttl=ttl, now=now)


def trigger(node: str = "edge-1", wpk: str = "run-command", params: object = None, ttl: float = 60) -> str:
    return tokens.mint_trigger(
        HUB,
        namespace=NS,
        node=node,
        wpk=wpk,
        params=params if params is not None else {"command": "greet", "args": {"name": "world"}},  # type: ignore[arg-type]
        run={"namespace": NS, "name": "run-1", "act": "act"},
        ttl=ttl,
        now=NOW,
    )


def accept(token: str, ledger: ReplayLedger | None = None, node: str = "edge-1", now: float = NOW) -> object:
    return triggers.accept(
        token,
        HUB.public_key(),
        namespace=NS,
        node=node,
        ledger=ledger or ReplayLedger(),
        config=CONFIG,
        now=now,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestValidTokensPass:
    def test_a_bootstrap_token_verifies_and_names_its_node(self) -> None:
        verified = verify_bootstrap(bootstrap())
        assert verified.subject == "edge-1"
        assert verified.namespace == NS

    def test_a_node_credential_is_bound_to_the_node_key(self) -> None:
        credential = tokens.mint_node_credential(
            HUB, namespace=NS, node="edge-1", node_key=NODE_KEY.public_key(), ttl=600, now=NOW
        )
        assert verify_node(credential).claims["cnf"] == {"jkt": tokens.thumbprint(NODE_KEY.public_key())}

    def test_an_allow_listed_trigger_becomes_an_argv_without_a_shell(self) -> None:
        accepted = accept(trigger())
        assert isinstance(accepted, triggers.AcceptedTrigger)
        assert accepted.execution.argv == ("/bin/echo", "hello", "world")


class TestMalformedTokensAreRefused:
    def test_no_authorization_header_is_401_missing_token(self) -> None:
        error = refusal(lambda: tokens.bearer(None))
        assert (error.status, error.reason) == (401, RefusalReason.MISSING_TOKEN)

    def test_a_basic_authorization_header_is_401_missing_token(self) -> None:
        assert refusal(lambda: tokens.bearer("Basic dXNlcjpwYXNz")).reason == RefusalReason.MISSING_TOKEN

    def test_an_empty_token_is_401(self) -> None:
        assert refusal(lambda: verify_bootstrap("")).status == 401

    @pytest.mark.parametrize("garbage", ["abc", "a.b.c", "a.b", "....", "eyJ.eyJ.sig", "\x00\x01"])
    def test_garbage_is_401_malformed(self, garbage: str) -> None:
        error = refusal(lambda: verify_bootstrap(garbage))
        assert (error.status, error.reason) == (401, RefusalReason.MALFORMED_TOKEN)

    def test_an_oversized_token_is_refused_before_decoding(self) -> None:
        assert refusal(lambda: verify_bootstrap("a" * 10_000)).reason == RefusalReason.MALFORMED_TOKEN


class TestAlgorithmsArePinned:
    def test_alg_none_is_refused(self) -> None:
        claims = jwt.decode(bootstrap(), options={"verify_signature": False})
        unsigned = (
            f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}."
        )
        error = refusal(lambda: verify_bootstrap(unsigned))
        assert (error.status, error.reason) == (401, RefusalReason.ALGORITHM_NOT_ALLOWED)

    def test_hs256_signed_with_the_public_key_is_refused(self) -> None:
        claims = jwt.decode(bootstrap(), options={"verify_signature": False})
        public = HUB.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = b64(json.dumps(claims).encode())
        import hashlib
        import hmac

        signature = b64(hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        error = refusal(lambda: verify_bootstrap(f"{header}.{payload}.{signature}"))
        assert error.reason == RefusalReason.ALGORITHM_NOT_ALLOWED

    def test_rs256_is_refused(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        claims = jwt.decode(bootstrap(), options={"verify_signature": False})
        assert refusal(lambda: verify_bootstrap(jwt.encode(claims, rsa_key, algorithm="RS256"))).reason == (
            RefusalReason.ALGORITHM_NOT_ALLOWED
        )


class TestSignaturesAndClaims:
    def test_a_token_signed_by_another_key_is_bad_signature(self) -> None:
        forged = tokens.mint_bootstrap(tokens.generate_key(), namespace=NS, node="edge-1", ttl=60, now=NOW)
        error = refusal(lambda: verify_bootstrap(forged))
        assert (error.status, error.reason) == (401, RefusalReason.BAD_SIGNATURE)

    def test_a_tampered_payload_is_bad_signature(self) -> None:
        header, _, signature = bootstrap().split(".")
        claims = jwt.decode(bootstrap(), options={"verify_signature": False})
        claims["sub"] = "edge-2"
        tampered = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
        assert refusal(lambda: verify_bootstrap(tampered)).reason == RefusalReason.BAD_SIGNATURE

    def test_an_expired_token_is_refused(self) -> None:
        error = refusal(lambda: verify_bootstrap(bootstrap(ttl=60), now=NOW + 60 + tokens.LEEWAY + 1))
        assert (error.status, error.reason) == (401, RefusalReason.TOKEN_EXPIRED)

    def test_a_token_inside_the_clock_skew_leeway_still_passes(self) -> None:
        assert verify_bootstrap(bootstrap(ttl=60), now=NOW + 61).subject == "edge-1"

    def test_a_token_not_yet_valid_is_refused(self) -> None:
        error = refusal(lambda: verify_bootstrap(bootstrap(now=NOW + 120)))
        assert (error.status, error.reason) == (401, RefusalReason.TOKEN_NOT_YET_VALID)

    def test_a_bootstrap_token_is_not_a_node_credential(self) -> None:
        error = refusal(lambda: verify_node(bootstrap()))
        assert error.reason == RefusalReason.WRONG_TOKEN_TYPE

    def test_a_token_for_another_audience_is_refused(self) -> None:
        claims = jwt.decode(bootstrap(), options={"verify_signature": False})
        claims["aud"] = "someone-else"
        other = jwt.encode(claims, HUB, algorithm="EdDSA")
        error = refusal(lambda: verify_bootstrap(other))
        assert (error.status, error.reason) == (401, RefusalReason.WRONG_AUDIENCE)

    def test_a_token_without_a_jti_is_refused(self) -> None:
        claims = jwt.decode(bootstrap(), options={"verify_signature": False})
        del claims["jti"]
        assert refusal(lambda: verify_bootstrap(jwt.encode(claims, HUB, algorithm="EdDSA"))).reason == (
            RefusalReason.MISSING_CLAIM
        )

    def test_a_node_signed_proof_with_a_long_lifetime_is_refused(self) -> None:
        proof = tokens.mint_proof(NODE_KEY, node="edge-1", use="rotate", now=NOW, ttl=3600)
        error = refusal(
            lambda: tokens.verify(
                proof,
                NODE_KEY.public_key(),
                kind=tokens.PROOF,
                audience="naksha-hub/rotate",
                issuer="edge-1",
                now=NOW,
                max_lifetime=tokens.MAX_PROOF_LIFETIME,
            )
        )
        assert error.reason == RefusalReason.LIFETIME_TOO_LONG


class TestNodesAndReplays:
    def test_a_bootstrap_token_for_another_node_name_is_403(self) -> None:
        verified = verify_bootstrap(bootstrap(node="edge-2"))
        error = refusal(lambda: tokens.require_node(verified, "edge-1"))
        assert (error.status, error.reason) == (403, RefusalReason.NODE_MISMATCH)

    def test_a_replayed_bootstrap_jti_is_409(self) -> None:
        ledger = ReplayLedger()
        verified = verify_bootstrap(bootstrap())
        ledger.use(verified.jti, verified.expires, NOW)
        error = refusal(lambda: ledger.use(verified.jti, verified.expires, NOW))
        assert (error.status, error.reason) == (409, RefusalReason.REPLAYED)

    def test_the_ledger_survives_its_wire_form(self) -> None:
        ledger = ReplayLedger()
        ledger.use("abc", NOW + 60, NOW)
        assert "abc" in ReplayLedger.from_wire(json.loads(json.dumps(ledger.to_wire())))

    def test_a_full_ledger_refuses_instead_of_forgetting_live_ids(self) -> None:
        ledger = ReplayLedger(capacity=2)
        ledger.use("a", NOW + 60, NOW)
        ledger.use("b", NOW + 60, NOW)
        assert refusal(lambda: ledger.use("c", NOW + 60, NOW)).status == 429
        assert "a" in ledger

    def test_expired_ids_are_pruned_once_their_tokens_could_not_verify(self) -> None:
        ledger = ReplayLedger()
        ledger.use("a", NOW, NOW)
        assert ledger.prune(NOW + tokens.LEEWAY + 1) == 1


class TestTriggers:
    def test_a_trigger_for_another_node_is_wrong_audience(self) -> None:
        assert refusal(lambda: accept(trigger(node="edge-2"))).reason == RefusalReason.WRONG_AUDIENCE

    def test_a_replayed_trigger_is_409(self) -> None:
        ledger = ReplayLedger()
        accepted = accept(trigger(), ledger)
        assert isinstance(accepted, triggers.AcceptedTrigger)
        ledger.use(accepted.jti, accepted.expires, NOW)
        assert refusal(lambda: accept(trigger_again(accepted.jti), ledger)).status == 409

    def test_an_expired_trigger_is_refused(self) -> None:
        assert refusal(lambda: accept(trigger(ttl=10), now=NOW + 30)).reason == RefusalReason.TOKEN_EXPIRED

    def test_a_trigger_for_a_wpk_outside_the_allow_list_is_403(self) -> None:
        error = refusal(lambda: accept(trigger(wpk="restart-service", params={"service": "nginx"})))
        assert (error.status, error.reason) == (403, RefusalReason.WPK_NOT_ALLOWED)

    def test_a_command_not_configured_is_403(self) -> None:
        error = refusal(lambda: accept(trigger(params={"command": "rm", "args": {}})))
        assert error.reason == RefusalReason.WPK_NOT_ALLOWED

    @pytest.mark.parametrize("name", ["World", "a b", "a;rm -rf /", "$(id)", "x" * 17, ""])
    def test_an_argument_outside_its_pattern_is_400(self, name: str) -> None:
        error = refusal(lambda: accept(trigger(params={"command": "greet", "args": {"name": name}})))
        assert (error.status, error.reason) == (400, RefusalReason.BAD_PARAMETERS)

    def test_an_unexpected_argument_is_400(self) -> None:
        params = {"command": "greet", "args": {"name": "ok", "extra": "x"}}
        assert refusal(lambda: accept(trigger(params=params))).reason == RefusalReason.BAD_PARAMETERS

    def test_a_trigger_signed_by_a_node_key_is_refused(self) -> None:
        forged = tokens.mint_trigger(
            NODE_KEY, namespace=NS, node="edge-1", wpk="run-command", params={}, run={}, ttl=60, now=NOW
        )
        assert refusal(lambda: accept(forged)).reason == RefusalReason.BAD_SIGNATURE

    def test_a_node_credential_is_not_a_trigger(self) -> None:
        credential = tokens.mint_node_credential(
            HUB, namespace=NS, node="edge-1", node_key=NODE_KEY.public_key(), ttl=600, now=time.time()
        )
        assert refusal(lambda: accept(credential, now=time.time())).status == 401


def trigger_again(jti: str) -> str:
    return tokens.mint_trigger(
        HUB,
        namespace=NS,
        node="edge-1",
        wpk="run-command",
        params={"command": "greet", "args": {"name": "world"}},
        run={"namespace": NS, "name": "run-1", "act": "act"},
        ttl=60,
        now=NOW,
        jti=jti,
    )
