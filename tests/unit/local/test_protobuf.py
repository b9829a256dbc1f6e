"""The protobuf bodies kubectl sends for tokens and reviews decode to their JSON shape, or fail clearly."""

from __future__ import annotations

import pytest

from naksha.local.apiserver.protobuf import MAGIC, ProtobufError, decode


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def _varint_field(number: int, value: int) -> bytes:
    encoded = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        encoded.append(byte | (0x80 if value else 0))
        if not value:
            break
    return bytes([number << 3]) + bytes(encoded)


def envelope(api_version: str, kind: str, obj: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return MAGIC + _field(1, type_meta) + _field(2, obj)


def test_a_token_request_decodes_with_audiences_lifetime_and_bound_object():
    ref = _field(1, b"Pod") + _field(2, b"v1") + _field(3, b"web-0") + _field(4, b"uid-1")
    spec = _field(1, b"api") + _field(1, b"ingest") + _field(3, ref) + _varint_field(4, 3600)
    body = envelope("authentication.k8s.io/v1", "TokenRequest", _field(2, spec))
    assert decode(body, "TokenRequest")["spec"] == {
        "audiences": ["api", "ingest"],
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web-0", "uid": "uid-1"},
        "expirationSeconds": 3600,
    }


def test_a_subject_access_review_decodes_with_attributes_groups_and_extra():
    attributes = _field(1, b"ns") + _field(2, b"patch") + _field(3, b"apps") + _field(5, b"deployments")
    extra = _field(1, b"scopes") + _field(2, _field(1, b"a") + _field(1, b"b"))
    spec = _field(1, attributes) + _field(3, b"jane") + _field(4, b"devs") + _field(5, extra)
    body = envelope(
        "authorization.k8s.io/v1", "SubjectAccessReview", _field(1, _field(1, b"r")) + _field(2, spec)
    )
    decoded = decode(body, "SubjectAccessReview")
    assert decoded["metadata"] == {"name": "r"}
    assert decoded["spec"] == {
        "resourceAttributes": {
            "namespace": "ns",
            "verb": "patch",
            "group": "apps",
            "resource": "deployments",
        },
        "user": "jane",
        "groups": ["devs"],
        "extra": {"scopes": ["a", "b"]},
    }


def test_a_body_without_the_envelope_or_truncated_or_of_another_kind_is_refused():
    with pytest.raises(ProtobufError, match="envelope"):
        decode(b'{"kind": "TokenRequest"}', "TokenRequest")
    with pytest.raises(ProtobufError, match="truncated"):
        decode(MAGIC + b"\x0a\x20abc", "TokenRequest")
    with pytest.raises(ProtobufError, match="expected a TokenReview, got Secret"):
        decode(envelope("v1", "Secret", b""), "TokenReview")
