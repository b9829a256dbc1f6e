"""CRD structural schemas: defaults applied, unknown fields pruned, violations explained per field."""

from __future__ import annotations

from naksha.local.apiserver.schema import apply_defaults, check_structural, prune, unknown_fields, validate

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["mode"],
            "properties": {
                "mode": {"type": "string", "enum": ["fast", "safe"]},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        }
    },
}


def test_defaults_fill_missing_fields_only():
    assert apply_defaults(SCHEMA, {"spec": {"mode": "fast"}})["spec"]["replicas"] == 1
    assert apply_defaults(SCHEMA, {"spec": {"mode": "fast", "replicas": 3}})["spec"]["replicas"] == 3


def test_unknown_fields_are_pruned_except_where_preserved_and_metadata_is_kept():
    obj = {"metadata": {"name": "x"}, "spec": {"mode": "fast", "bogus": 1, "extra": {"free": {"form": 1}}}}
    pruned = prune(SCHEMA, obj)
    assert pruned == {"metadata": {"name": "x"}, "spec": {"mode": "fast", "extra": {"free": {"form": 1}}}}
    assert unknown_fields(SCHEMA, obj) == ["spec.bogus"]


def test_each_violation_names_the_field_and_the_rule():
    errors = validate(
        SCHEMA, {"spec": {"replicas": 11, "name": "ABCDEFG", "tags": ["a", "b", "c"], "mode": "slow"}}
    )
    text = "\n".join(errors)
    assert 'spec.mode: Unsupported value: "slow"' in text
    assert "spec.replicas" in text and "10" in text
    assert "spec.name" in text
    assert "spec.tags" in text
    missing = validate(SCHEMA, {"spec": {}})
    assert any("spec.mode" in e and "Required" in e for e in missing)


def test_a_wrong_type_is_reported_with_the_expected_type():
    (error,) = validate(SCHEMA, {"spec": {"mode": "fast", "replicas": "two"}})
    assert "spec.replicas" in error and "integer" in error


def test_a_schema_without_types_is_not_structural():
    assert check_structural({"type": "object", "properties": {"spec": {"properties": {}}}})
    assert check_structural(SCHEMA) == []
