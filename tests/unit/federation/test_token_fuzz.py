"""Fuzzing the verifier: whatever bytes arrive, the answer is a valid token or a clean refusal."""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from naksha.domain.federation import tokens
from naksha.domain.federation.refusals import Refused

NOW = 1_800_000_000.0
HUB = tokens.generate_key()
GOOD = tokens.mint_bootstrap(HUB, namespace="edge", node="edge-1", ttl=600, now=NOW)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def outcome(token: str) -> str:
    try:
        tokens.verify(
            token, HUB.public_key(), kind=tokens.BOOTSTRAP, audience=tokens.REGISTER_AUDIENCE, now=NOW
        )
    except Refused as refused:
        assert refused.status == 401
        return "refused"
    return "accepted"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_is_refused_cleanly(text: str) -> None:
    assert outcome(text) == "refused"


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(max_size=8), json_values, max_size=6),
    st.dictionaries(st.text(max_size=8), json_values),
)
def test_arbitrary_headers_and_claims_with_the_real_signature_are_refused(header: dict, claims: dict) -> None:  # type: ignore[type-arg]
    signature = GOOD.split(".")[2]
    token = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{signature}"
    assert outcome(token) == "refused"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(GOOD) - 1), st.characters(codec="ascii"))
def test_any_single_character_change_of_a_valid_token_is_refused_or_equivalent(
    position: int, char: str
) -> None:
    mutated = GOOD[:position] + char + GOOD[position + 1 :]
    if mutated == GOOD:
        return
    result = outcome(mutated)
    # A changed last base64 character can decode to the same bytes (unused low bits): then the
    # token is the same token. Anything else must be refused.
    if result == "accepted":
        assert (
            base64.urlsafe_b64decode(mutated.split(".")[2] + "==")
            == base64.urlsafe_b64decode(GOOD.split(".")[2] + "==")
            and mutated.split(".")[:2] == GOOD.split(".")[:2]
        )
