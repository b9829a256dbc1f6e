"""Just enough of Kubernetes' protobuf encoding to read a TokenRequest, which ``kubectl create token`` sends.

The emulator speaks JSON; client-go's typed clients send some bodies as protobuf only (the
``k8s\\x00`` envelope around a ``runtime.Unknown``). TokenRequest is the one such body a user
needs here, so it alone is decoded, into the JSON shape the emulator understands.
"""

from __future__ import annotations

from typing import Any

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """The body is not a well-formed protobuf message."""


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(data: bytes) -> dict[int, list[int | bytes]]:
    """The fields of one message: number -> values (ints for varints, bytes for length-delimited)."""
    found: dict[int, list[int | bytes]] = {}
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == 0:
            value, position = _varint(data, position)
        elif wire_type == 2:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise ProtobufError("truncated field")
            value, position = data[position : position + length], position + length
        elif wire_type == 1:
            value, position = int.from_bytes(data[position : position + 8], "little"), position + 8
        elif wire_type == 5:
            value, position = int.from_bytes(data[position : position + 4], "little"), position + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire_type}")
        found.setdefault(number, []).append(value)
    return found


def _text(values: list[int | bytes] | None) -> str:
    if not values or not isinstance(values[-1], bytes):
        return ""
    return values[-1].decode()


def _message(values: list[int | bytes] | None) -> dict[int, list[int | bytes]]:
    if not values or not isinstance(values[-1], bytes):
        return {}
    return fields(values[-1])


def token_request(body: bytes) -> dict[str, Any]:
    """A protobuf ``authentication.k8s.io/v1`` TokenRequest as its JSON object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf envelope")
    unknown = fields(body[len(MAGIC) :])
    type_meta = _message(unknown.get(1))
    kind = _text(type_meta.get(2))
    if kind and kind != "TokenRequest":
        raise ProtobufError(f"expected a TokenRequest, got {kind}")
    request = _message(unknown.get(2))
    spec = _message(request.get(2))
    result: dict[str, Any] = {
        "apiVersion": _text(type_meta.get(1)) or "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"audiences": [v.decode() for v in spec.get(1, []) if isinstance(v, bytes)]},
    }
    seconds = spec.get(4)
    if seconds and isinstance(seconds[-1], int):
        result["spec"]["expirationSeconds"] = seconds[-1]
    if 3 in spec:
        ref = _message(spec.get(3))
        result["spec"]["boundObjectRef"] = {
            "kind": _text(ref.get(1)),
            "apiVersion": _text(ref.get(2)),
            "name": _text(ref.get(3)),
            "uid": _text(ref.get(4)),
        }
    return result
