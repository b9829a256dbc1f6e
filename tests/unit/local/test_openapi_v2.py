"""The /openapi/v2 document: CRD schemas converted from v3, and their gnostic protobuf encoding."""

from __future__ import annotations

from naksha.local.apiserver import openapi_v2
from naksha.local.apiserver.protobuf import fields
from naksha.local.apiserver.resources import Catalog, ResourceDef


def catalog_with_crd() -> Catalog:
    catalog = Catalog()
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "integer", "minimum": 1, "nullable": True},
                    "tags": {"type": "array"},
                    "mode": {
                        "anyOf": [{"type": "string"}, {"type": "integer"}],
                        "x-kubernetes-int-or-string": True,
                    },
                },
            }
        },
    }
    catalog.add(
        ResourceDef("example.com", "v1", "widgets", "Widget", schema=schema, crd_name="widgets.example.com")
    )
    return catalog


def test_v3_only_keywords_are_dropped_and_arrays_get_an_item_schema():
    definition = openapi_v2.document(catalog_with_crd())["definitions"]["com.example.v1.Widget"]
    spec = definition["properties"]["spec"]
    assert spec["properties"]["size"] == {"type": "integer", "minimum": 1}
    assert spec["properties"]["tags"] == {"type": "array", "items": {}}
    assert spec["properties"]["mode"] == {"x-kubernetes-int-or-string": True}
    assert definition["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "version": "v1", "kind": "Widget"}
    ]


def test_the_protobuf_document_names_every_definition_with_its_schema():
    document = openapi_v2.document(catalog_with_crd())
    encoded = fields(openapi_v2.encode(document))
    assert encoded[1] == [b"2.0"]
    definitions = fields(encoded[9][0])[1]
    names = {fields(d)[1][0] for d in definitions if isinstance(d, bytes)}
    assert b"com.example.v1.Widget" in names and b"io.k8s.api.core.v1.Pod" in names
    widget = next(
        fields(d)[2][0]
        for d in definitions
        if isinstance(d, bytes) and fields(d)[1][0] == b"com.example.v1.Widget"
    )
    schema = fields(widget)
    assert fields(schema[22][0])[1] == [b"object"]  # type
    extension = fields(schema[31][0])
    assert extension[1] == [b"x-kubernetes-group-version-kind"]
    assert b"kind: Widget" in fields(extension[2][0])[2][0]
