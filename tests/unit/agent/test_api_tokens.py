"""API tokens: only an unexpired HS256 token signed with the operator's secret gets in, within its scopes."""

from __future__ import annotations

import time

import jwt
import pytest

from naksha.domain.agentrun import tokens

SECRET = "s" * 40


def test_a_minted_token_names_its_caller_scopes_and_namespaces():
    caller = tokens.authenticate(SECRET, "Bearer " + tokens.mint(SECRET, "ci", namespaces=["prod"]))
    assert caller.subject == "ci"
    assert caller.scopes == {"agent:run", "agent:read"}
    assert caller.namespaces == {"prod"}


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing bearer token"),
        ("", "missing bearer token"),
        ("Basic dXNlcjpwdw==", "must be 'Bearer <token>'"),
        ("Bearer ", "must be 'Bearer <token>'"),
        ("Bearer not.a.jwt", "invalid token"),
    ],
)
def test_a_missing_or_malformed_header_is_refused(header, reason):
    with pytest.raises(tokens.Unauthorized, match=reason):
        tokens.authenticate(SECRET, header)


def test_an_expired_token_is_refused():
    token = tokens.mint(SECRET, "ci", ttl_seconds=60, now=time.time() - 120)
    with pytest.raises(tokens.Unauthorized, match="expired"):
        tokens.authenticate(SECRET, f"Bearer {token}")


def test_a_token_signed_with_another_secret_is_refused():
    token = tokens.mint("x" * 40, "intruder")
    with pytest.raises(tokens.Unauthorized, match="Signature verification failed"):
        tokens.authenticate(SECRET, f"Bearer {token}")


def test_an_unsigned_token_is_refused_even_when_it_names_the_none_algorithm():
    claims = {"sub": "intruder", "aud": "naksha", "exp": int(time.time()) + 60, "scope": "agent:run"}
    token = jwt.encode(claims, key=None, algorithm="none")
    with pytest.raises(tokens.Unauthorized, match="invalid token"):
        tokens.authenticate(SECRET, f"Bearer {token}")


@pytest.mark.parametrize("missing", ["exp", "sub", "aud"])
def test_a_token_without_a_required_claim_is_refused(missing):
    claims = {"sub": "ci", "aud": "naksha", "exp": int(time.time()) + 60}
    del claims[missing]
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(tokens.Unauthorized, match=missing):
        tokens.authenticate(SECRET, f"Bearer {token}")


def test_a_token_for_another_audience_is_refused():
    token = jwt.encode({"sub": "ci", "aud": "other", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(tokens.Unauthorized, match="Audience"):
        tokens.authenticate(SECRET, f"Bearer {token}")


def test_a_caller_without_the_scope_or_namespace_is_forbidden():
    reader = tokens.authenticate(SECRET, "Bearer " + tokens.mint(SECRET, "r", scopes=("agent:read",)))
    reader.require("agent:read", "any")
    with pytest.raises(tokens.Forbidden, match="lacks the scope agent:run"):
        reader.require("agent:run", "any")
    fenced = tokens.authenticate(SECRET, "Bearer " + tokens.mint(SECRET, "f", namespaces=["dev"]))
    with pytest.raises(tokens.Forbidden, match="does not cover namespace 'prod'"):
        fenced.require("agent:run", "prod")


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="at least 32 bytes"):
        tokens.mint("short", "ci")


def test_naksha_agent_token_mints_from_the_secret_alone_without_the_operators_mode(monkeypatch, capsys):
    from naksha.cli import main

    secret = "a-cli-secret-of-at-least-32-bytes-long"
    monkeypatch.setenv("NAKSHA_API_JWT_SECRET", secret)
    monkeypatch.delenv("NAKSHA_API_AUTH", raising=False)
    assert main(["agent", "token", "--subject", "ci", "--ttl", "1h"]) == 0
    caller = tokens.authenticate(secret, "Bearer " + capsys.readouterr().out.strip())
    assert caller.subject == "ci"
