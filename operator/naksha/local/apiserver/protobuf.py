"""Just enough of Kubernetes' protobuf encoding to read the token and review requests kubectl sends.

The emulator speaks JSON; client-go's typed clients send some bodies as protobuf only (the
``k8s\\x00`` envelope around a ``runtime.Unknown``): ``kubectl create token`` its TokenRequest,
``kubectl auth can-i``/``whoami`` their reviews. Those kinds alone are decoded, into the JSON
shape the emulator understands; every other protobuf body is still refused with 415.
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


# Message layouts (field number -> JSON name and type) from k8s.io/api's generated.proto files.
Schema = dict[int, tuple[str, Any]]
_META: Schema = {1: ("name", "string"), 3: ("namespace", "string")}
_BOUND_REF: Schema = {
    1: ("kind", "string"),
    2: ("apiVersion", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
}
_RESOURCE_ATTRIBUTES: Schema = {
    1: ("namespace", "string"),
    2: ("verb", "string"),
    3: ("group", "string"),
    4: ("version", "string"),
    5: ("resource", "string"),
    6: ("subresource", "string"),
    7: ("name", "string"),
}
_NON_RESOURCE_ATTRIBUTES: Schema = {1: ("path", "string"), 2: ("verb", "string")}
_ACCESS_SPEC: Schema = {
    1: ("resourceAttributes", _RESOURCE_ATTRIBUTES),
    2: ("nonResourceAttributes", _NON_RESOURCE_ATTRIBUTES),
    3: ("user", "string"),
    4: ("groups", "strings"),
    5: ("extra", "extra"),
    6: ("uid", "string"),
}
SPECS: dict[str, Schema] = {
    "TokenRequest": {
        1: ("audiences", "strings"),
        3: ("boundObjectRef", _BOUND_REF),
        4: ("expirationSeconds", "int"),
    },
    "TokenReview": {1: ("token", "string"), 2: ("audiences", "strings")},
    "SelfSubjectReview": {},
    "SubjectAccessReview": _ACCESS_SPEC,
    "LocalSubjectAccessReview": _ACCESS_SPEC,
    "SelfSubjectAccessReview": {1: _ACCESS_SPEC[1], 2: _ACCESS_SPEC[2]},
    "SelfSubjectRulesReview": {1: ("namespace", "string")},
}


def _decode(data: bytes, schema: Schema) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for number, values in fields(data).items():
        if number not in schema:
            continue
        name, kind = schema[number]
        last = values[-1]
        if kind == "strings":
            result[name] = [v.decode() for v in values if isinstance(v, bytes)]
        elif kind == "string" and isinstance(last, bytes):
            result[name] = last.decode()
        elif kind == "int" and isinstance(last, int):
            result[name] = last
        elif kind == "extra":  # map<string, ExtraValue{repeated string items = 1}>
            extra: dict[str, list[str]] = {}
            for entry in values:
                if isinstance(entry, bytes):
                    pair = fields(entry)
                    key = pair.get(1, [b""])[-1]
                    value = pair.get(2, [b""])[-1]
                    if isinstance(key, bytes) and isinstance(value, bytes):
                        items = fields(value).get(1, [])
                        extra[key.decode()] = [i.decode() for i in items if isinstance(i, bytes)]
            result[name] = extra
        elif isinstance(kind, dict) and isinstance(last, bytes):
            result[name] = _decode(last, kind)
    return result


def decode(body: bytes, kind: str) -> dict[str, Any]:
    """A protobuf request body of ``kind`` (one of ``SPECS``) as its JSON object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf envelope")
    unknown = fields(body[len(MAGIC) :])
    type_meta = _message(unknown.get(1))
    sent = _text(type_meta.get(2))
    if sent and sent != kind:
        raise ProtobufError(f"expected a {kind}, got {sent}")
    obj = _message(unknown.get(2))
    result: dict[str, Any] = {
        "apiVersion": _text(type_meta.get(1)),
        "kind": kind,
        "metadata": _decode(_bytes(obj.get(1)), _META),
        "spec": _decode(_bytes(obj.get(2)), SPECS[kind]),
    }
    return result


def _bytes(values: list[int | bytes] | None) -> bytes:
    return values[-1] if values and isinstance(values[-1], bytes) else b""


def _text(values: list[int | bytes] | None) -> str:
    if not values or not isinstance(values[-1], bytes):
        return ""
    return values[-1].decode()


def _message(values: list[int | bytes] | None) -> dict[int, list[int | bytes]]:
    if not values or not isinstance(values[-1], bytes):
        return {}
    return fields(values[-1])
