"""Label and field selectors parse like the API server's and match as it does."""

from __future__ import annotations

import pytest

from naksha.local.apiserver.selectors import (
    SelectorError,
    label_selector_from_spec,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "web", "tier": "front", "canary": "true"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web,tier=front", True),
        ("app!=web", False),
        ("tier in (front, back)", True),
        ("tier notin (front)", False),
        ("canary", True),
        ("!canary", False),
        ("missing!=x", True),
        ("app=web,missing", False),
    ],
)
def test_label_selector_expressions(text, matches):
    assert parse_label_selector(text).matches(LABELS) is matches


@pytest.mark.parametrize("text", ["app in web", "=web", "app=(x", "a b"])
def test_malformed_label_selectors_are_refused(text):
    with pytest.raises(SelectorError):
        parse_label_selector(text)


def test_a_selector_object_with_expressions_matches_like_its_text_form():
    spec = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    assert label_selector_from_spec(spec).matches(LABELS)
    assert not label_selector_from_spec({"matchLabels": {"app": "api"}}).matches(LABELS)


def test_field_selectors_compare_nested_fields_as_text():
    pod = {
        "metadata": {"name": "p1", "namespace": "ns"},
        "status": {"phase": "Running"},
        "spec": {"ready": True},
    }
    assert parse_field_selector("metadata.name=p1,status.phase!=Failed").matches(pod)
    assert not parse_field_selector("status.phase=Pending").matches(pod)
    assert parse_field_selector("spec.ready=true").matches(pod)
    with pytest.raises(SelectorError):
        parse_field_selector("status.phase~Running")
