"""The CRDs under crds/ are generated from the models and stay structural and usable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from naksha.models import KINDS
from naksha.models.crdgen import build_crd, file_name, render
from naksha.models.docgen import render_reference

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
@pytest.mark.parametrize("directory", ["crds", "charts/naksha/crds"])
def test_committed_crd_matches_the_models(kind, directory):
    committed = ROOT / directory / file_name(kind)
    assert committed.read_text() == render(kind), f"{committed} drifted: run `make crds`"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_crd_has_status_subresource_names_and_columns(kind):
    crd = build_crd(kind)
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["group"] == "naksha.io"
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    assert "naksha" in crd["spec"]["names"]["categories"]
    assert crd["spec"]["names"]["shortNames"]
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Phase", "Accepted", "Age"} <= columns


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schemas_are_structural(kind):
    schema = build_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    text = json.dumps(schema)
    for forbidden in ('"$ref"', '"anyOf"', '"allOf"', '"oneOf"', '"title"', '"const"'):
        assert forbidden not in text

    def walk(node, path):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        for name, child in node.get("properties", {}).items():
            walk(child, f"{path}.{name}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}{{}}")

    walk(schema, kind.kind)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_exclusive_bounds_are_booleans_as_openapi_3_0_requires(kind):
    def walk(node):
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            if bound in node:
                assert node[bound] is True
                assert bound.replace("exclusiveM", "m") in node
        for child in node.get("properties", {}).values():
            walk(child)
        if isinstance(node.get("items"), dict):
            walk(node["items"])

    walk(build_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def test_schemas_carry_enums_bounds_defaults_and_required_fields():
    insight = build_crd(KINDS[0])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    source = insight["properties"]["source"]
    assert insight["required"] == ["source"]
    assert source["properties"]["type"]["enum"] == ["kafka", "redis", "http"]
    assert insight["properties"]["replicas"] == {
        "default": 1,
        "maximum": 100,
        "minimum": 0,
        "type": "integer",
    }
    kafka = source["properties"]["kafka"]["properties"]
    assert kafka["topic"]["default"] == "naksha.telemetry"
    assert kafka["bootstrapServers"]["minItems"] == 1


def test_each_kind_has_one_valid_sample():
    kinds = sorted(yaml.safe_load(p.read_text())["kind"] for p in (ROOT / "crds" / "samples").glob("*.yaml"))
    assert kinds == sorted(k.kind for k in KINDS)


def test_the_api_reference_matches_the_models():
    committed = (ROOT / "docs" / "api-reference.md").read_text()
    assert committed == render_reference(), "docs/api-reference.md drifted: run `make crds`"
    assert "| `spec.source.type` **required** | string |  | one of `kafka`, `redis`, `http` |" in committed
