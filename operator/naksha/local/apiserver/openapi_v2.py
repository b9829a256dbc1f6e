"""``/openapi/v2``: the Swagger 2.0 document kubectl still reads to validate a ``kind: List`` client-side.

kubectl defers validation to the server (``fieldValidation``) for single objects, but a ``List``
has no server-side counterpart, so kubectl validates its items against the OpenAPI v2 models,
which client-go fetches in gnostic's protobuf encoding. The document holds one definition per
served kind (the CRD's structural schema, or an open object for built-ins), converted from the
``/openapi/v3`` schemas the way the real server converts CRD schemas: what v2 cannot say
(``nullable``, ``anyOf``/``oneOf``/``not``) is dropped. It is served as JSON, or as protobuf when
asked for (``Accept: application/com.github.proto-openapi.spec.v2...+protobuf``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

import aiohttp.web
import yaml

from naksha.local.apiserver import discovery
from naksha.local.apiserver.encoding import encode_json
from naksha.local.apiserver.resources import Catalog

# Asked for as ``...spec.v2@v1.0+protobuf``; answered with a media type Go's parser accepts ('@' is not).
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_DROPPED = {"nullable", "anyOf", "oneOf", "not"}


def document(catalog: Catalog) -> dict[str, Any]:
    """The Swagger 2.0 document of every served kind."""
    definitions: dict[str, Any] = {}
    for group, version in sorted({(r.group, r.version) for r in catalog}):
        schemas = discovery.openapi_document(catalog, group, version)["components"]["schemas"]
        for name, schema in schemas.items():
            definitions[name] = _to_v2(schema)
    return {
        "swagger": "2.0",
        "info": {
            "title": "Kubernetes (naksha local control plane)",
            "version": discovery.SERVER_VERSION["gitVersion"],
        },
        "paths": {},
        "definitions": definitions,
    }


def response(catalog: Catalog, accept: str) -> aiohttp.web.Response:
    """The document as protobuf when ``accept`` asks for it, otherwise as JSON."""
    doc = document(catalog)
    if "protobuf" in accept:
        return aiohttp.web.Response(body=encode(doc), content_type=PROTOBUF)
    return aiohttp.web.Response(body=encode_json(doc), content_type="application/json")


def _to_v2(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key == "properties":
            result[key] = {name: _to_v2(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            result[key] = _to_v2(value)
        elif key == "allOf":
            result[key] = [_to_v2(sub) for sub in value]
        else:
            result[key] = value
    if result.get("type") == "array" and "items" not in result:
        result["items"] = {}  # kubectl's model parser needs exactly one item schema
    return result


# --- gnostic protobuf encoding (openapiv2/OpenAPIv2.proto) ------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s are ten bytes of two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _text(number: int, value: str) -> bytes:
    return _bytes(number, value.encode())


def _texts(number: int, values: Iterable[Any]) -> bytes:
    return b"".join(_text(number, str(v)) for v in values)


def _bool(number: int, value: bool) -> bytes:
    return _varint(number << 3) + _varint(int(value)) if value else b""


def _integer(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _double(number: int, value: float) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", float(value))


def _any(number: int, value: Any) -> bytes:
    return _bytes(number, _text(2, yaml.safe_dump(value, default_flow_style=True).strip()))


_STRINGS = {"$ref": 1, "format": 2, "title": 3, "description": 4, "pattern": 13, "discriminator": 26}
_DOUBLES = {"multipleOf": 6, "maximum": 7, "minimum": 9}
_BOOLS = {"exclusiveMaximum": 8, "exclusiveMinimum": 10, "uniqueItems": 16, "readOnly": 27}
_INTEGERS = {
    "maxLength": 11,
    "minLength": 12,
    "maxItems": 14,
    "minItems": 15,
    "maxProperties": 17,
    "minProperties": 18,
}


def encode_schema(schema: dict[str, Any]) -> bytes:
    """One ``openapi.v2.Schema`` message."""
    out = bytearray()
    for key, value in schema.items():
        if key in _STRINGS and isinstance(value, str):
            out += _text(_STRINGS[key], value)
        elif key in _DOUBLES and isinstance(value, int | float):
            out += _double(_DOUBLES[key], value)
        elif key in _BOOLS and isinstance(value, bool):
            out += _bool(_BOOLS[key], value)
        elif key in _INTEGERS and isinstance(value, int):
            out += _integer(_INTEGERS[key], value)
        elif key == "default":
            out += _any(5, value)
        elif key == "required":
            out += _texts(19, value)
        elif key == "enum":
            out += b"".join(_any(20, v) for v in value)
        elif key == "additionalProperties":
            item = _bytes(1, encode_schema(value)) if isinstance(value, dict) else _bool(2, bool(value))
            out += _bytes(21, item)
        elif key == "type":
            out += _bytes(22, _texts(1, value if isinstance(value, list) else [value]))
        elif key == "items" and isinstance(value, dict):
            out += _bytes(23, _bytes(1, encode_schema(value)))
        elif key == "allOf":
            out += b"".join(_bytes(24, encode_schema(sub)) for sub in value)
        elif key == "properties":
            named = b"".join(_bytes(1, _text(1, n) + _bytes(2, encode_schema(s))) for n, s in value.items())
            out += _bytes(25, named)
        elif key == "example":
            out += _any(30, value)
        elif key.startswith("x-"):
            out += _bytes(31, _text(1, key) + _any(2, value))
    return bytes(out)


def encode(doc: dict[str, Any]) -> bytes:
    """The document as an ``openapi.v2.Document`` message."""
    info = doc.get("info") or {}
    named = b"".join(
        _bytes(1, _text(1, name) + _bytes(2, encode_schema(schema)))
        for name, schema in (doc.get("definitions") or {}).items()
    )
    return (
        _text(1, str(doc.get("swagger", "2.0")))
        + _bytes(2, _text(1, str(info.get("title", ""))) + _text(2, str(info.get("version", ""))))
        + _bytes(8, b"")
        + _bytes(9, named)
    )
