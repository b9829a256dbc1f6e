"""Git objects for one-file commits, built in Python: tree entries, the commit text, loose objects.

A revert changes one file. Its new blob, the trees on the path to it and the commit are written
straight into the cache's object store as loose objects, each to a temporary file then renamed
into place (as git does): a kill leaves at most a ``tmp_obj_*`` file, never a half object, and
no index, ref or lock is involved. The trees come from the parent commit (read with one
``git cat-file --batch``); only the entries on the path change, so their order stays git's.
Objects use SHA-1, the format of the repositories ``git init`` makes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from naksha.errors import NakshaError

TREE_MODE = b"40000"


class ObjectError(NakshaError, ValueError):
    """A tree or path that is not what a one-file commit needs."""


@dataclass(frozen=True)
class Entry:
    mode: bytes
    name: bytes
    sha: bytes  # 20 raw bytes


def parse_tree(raw: bytes) -> list[Entry]:
    entries, at = [], 0
    while at < len(raw):
        space = raw.index(b" ", at)
        nul = raw.index(b"\0", space)
        entries.append(Entry(raw[at:space], raw[space + 1 : nul], raw[nul + 1 : nul + 21]))
        at = nul + 21
    return entries


def encode_tree(entries: list[Entry]) -> bytes:
    return b"".join(e.mode + b" " + e.name + b"\0" + e.sha for e in entries)


def replace_entry(raw: bytes, name: bytes, sha: str, *, tree: bool) -> tuple[bytes, bytes]:
    """The tree with ``name`` pointing at ``sha`` (and the entry's mode); the entry must exist."""
    entries = parse_tree(raw)
    for index, entry in enumerate(entries):
        if entry.name == name:
            if (entry.mode == TREE_MODE) != tree:
                kind = "a directory" if entry.mode == TREE_MODE else "a file"
                raise ObjectError(f"{name.decode(errors='replace')} is {kind}")
            entries[index] = Entry(entry.mode, name, bytes.fromhex(sha))
            return encode_tree(entries), entry.mode
    raise ObjectError(f"no {name.decode(errors='replace')} in the tree")


def mode_of(raw: bytes, name: bytes) -> bytes | None:
    return next((e.mode for e in parse_tree(raw) if e.name == name), None)


def commit_text(tree: str, parent: str, author: tuple[str, str], stamp: int, message: str) -> bytes:
    name, email = author
    who = f"{name} <{email}> {stamp} +0000"
    return f"tree {tree}\nparent {parent}\nauthor {who}\ncommitter {who}\n\n{message}".encode()


def object_id(kind: str, content: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(content)}\0".encode() + content, usedforsecurity=False).hexdigest()


def write_loose(objects: Path, kind: str, content: bytes) -> str:
    """Store one object (if it is not there yet); its id."""
    sha = object_id(kind, content)
    directory = objects / sha[:2]
    target = directory / sha[2:]
    if target.exists():
        return sha
    directory.mkdir(exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix="tmp_obj_", dir=directory)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(zlib.compress(f"{kind} {len(content)}\0".encode() + content))
        os.chmod(temporary, 0o444)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return sha
