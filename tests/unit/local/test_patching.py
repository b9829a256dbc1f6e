"""The emulator's patch formats: JSON merge (RFC 7386), JSON patch (RFC 6902), strategic merge."""

from __future__ import annotations

import pytest

from naksha.local.apiserver.patching import (
    JsonPatchTestFailed,
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)


def test_merge_patch_merges_objects_replaces_lists_and_deletes_with_null():
    target = {"a": {"b": 1, "c": 2}, "list": [1, 2], "gone": True}
    patched = apply_merge_patch(target, {"a": {"c": 3, "d": 4}, "list": [9], "gone": None})
    assert patched == {"a": {"b": 1, "c": 3, "d": 4}, "list": [9]}
    assert target["a"] == {"b": 1, "c": 2}  # the input is not modified


def test_json_patch_supports_every_operation():
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops = [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "replace", "path": "/b/c", "value": 2},
        {"op": "copy", "from": "/b/c", "path": "/d"},
        {"op": "move", "from": "/a/0", "path": "/e"},
        {"op": "remove", "path": "/b"},
        {"op": "test", "path": "/d", "value": 2},
    ]
    assert apply_json_patch(doc, ops) == {"a": [2, 3], "d": 2, "e": 1}


def test_json_patch_escapes_in_pointers_are_understood():
    doc = {"metadata": {"annotations": {"example.com/a~b": "x"}}}
    ops = [{"op": "replace", "path": "/metadata/annotations/example.com~1a~0b", "value": "y"}]
    assert apply_json_patch(doc, ops)["metadata"]["annotations"]["example.com/a~b"] == "y"


def test_a_failed_test_operation_is_its_own_error():
    with pytest.raises(JsonPatchTestFailed):
        apply_json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])


def test_a_path_that_does_not_exist_is_a_patch_error():
    with pytest.raises(PatchError):
        apply_json_patch({"a": 1}, [{"op": "replace", "path": "/b/c", "value": 2}])


def test_strategic_merge_merges_containers_by_name_and_honours_delete_directives():
    deployment = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                        {"name": "sidecar", "image": "proxy:1"},
                    ]
                }
            }
        }
    }
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]},
                        {"name": "sidecar", "$patch": "delete"},
                    ]
                }
            }
        }
    }
    merged = apply_strategic_merge_patch(deployment, patch, "apps/v1", "Deployment")
    (app,) = merged["spec"]["template"]["spec"]["containers"]
    assert app["image"] == "app:2"
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]


def test_server_side_apply_gives_up_the_fields_a_manager_no_longer_applies():
    from naksha.local.apiserver.patching import fields_given_up, without_fields

    before = {
        "apiVersion": "v1",
        "metadata": {"name": "x", "labels": {"a": "1", "b": "2"}},
        "data": {"k": "v"},
    }
    now = {"apiVersion": "v1", "metadata": {"name": "x", "labels": {"a": "1"}}}
    gone = fields_given_up(before, now)
    assert sorted(gone) == [("data",), ("metadata", "labels", "b")]
    current = {"metadata": {"name": "x", "labels": {"a": "1", "b": "2", "c": "3"}}, "data": {"k": "v"}}
    assert without_fields(current, gone) == {"metadata": {"name": "x", "labels": {"a": "1", "c": "3"}}}
    assert fields_given_up(None, now) == []  # nothing applied before: nothing to give up
