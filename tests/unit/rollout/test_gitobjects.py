"""Git objects written in Python have git's ids; trees change only the entry on the path."""

from __future__ import annotations

import pytest

from naksha.controllers.rollout.gitobjects import (
    Entry,
    ObjectError,
    commit_text,
    encode_tree,
    object_id,
    parse_tree,
    replace_entry,
)

BLOB = bytes.fromhex("ce013625030ba8dba906f756967f9e9ca394464a")  # git hash-object of "hello\n"
TREE = bytes.fromhex("4b825dc642cb6eb9a060e54bf8d69288fbee4904")  # the empty tree


def test_object_ids_are_gits():
    assert object_id("blob", b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert object_id("blob", b"hello\n") == BLOB.hex()
    assert object_id("tree", b"") == TREE.hex()


def test_a_tree_reads_back_as_it_was_written():
    entries = [
        Entry(b"100644", b"a.yaml", BLOB),
        Entry(b"40000", b"apps", TREE),
        Entry(b"100755", b"run", BLOB),
    ]
    assert parse_tree(encode_tree(entries)) == entries


def test_replacing_an_entry_keeps_the_others_their_order_and_the_mode():
    raw = encode_tree([Entry(b"100755", b"a.yaml", BLOB), Entry(b"40000", b"apps", TREE)])
    new, mode = replace_entry(raw, b"a.yaml", "00" * 20, tree=False)
    assert mode == b"100755"
    assert parse_tree(new) == [Entry(b"100755", b"a.yaml", bytes(20)), Entry(b"40000", b"apps", TREE)]


def test_a_missing_entry_or_one_of_the_wrong_kind_is_refused():
    raw = encode_tree([Entry(b"40000", b"apps", TREE)])
    with pytest.raises(ObjectError, match="apps is a directory"):
        replace_entry(raw, b"apps", "00" * 20, tree=False)
    with pytest.raises(ObjectError, match=r"no cart\.yaml in the tree"):
        replace_entry(raw, b"cart.yaml", "00" * 20, tree=False)


def test_a_commit_names_its_tree_parent_author_and_message():
    text = commit_text(TREE.hex(), BLOB.hex(), ("naksha", "n@example.com"), 1_800_000_000, "Revert\n")
    assert (
        text
        == (
            f"tree {TREE.hex()}\nparent {BLOB.hex()}\n"
            "author naksha <n@example.com> 1800000000 +0000\n"
            "committer naksha <n@example.com> 1800000000 +0000\n\nRevert\n"
        ).encode()
    )
