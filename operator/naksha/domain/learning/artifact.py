"""Artifacts: what a trainer produces, encoded with its checksum, and checked before anyone uses it.

An artifact is canonical JSON (sorted keys), gzip-compressed with a fixed mtime so the same
parameters always give the same bytes and the same sha256. It is stored in a ConfigMap's
``binaryData`` (owned by its ModelVersion); a ConfigMap holds at most 1 MiB, so an artifact whose
compressed form exceeds ``MAX_ARTIFACT_BYTES`` is refused with ``ArtifactTooLarge`` and the
version fails with that reason rather than being cut or spread over objects.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Mapping
from typing import Any

MAX_ARTIFACT_BYTES = 900 * 1024  # below the 1 MiB object limit, with room for metadata
ARTIFACT_KEY = "artifact.json.gz"


class ArtifactTooLarge(ValueError):
    pass


class ArtifactCorrupt(ValueError):
    """The bytes do not match the published checksum, or do not decode."""


def encode(artifact: Mapping[str, Any]) -> bytes:
    raw = json.dumps(artifact, sort_keys=True, separators=(",", ":")).encode()
    data = gzip.compress(raw, mtime=0)
    if len(data) > MAX_ARTIFACT_BYTES:
        raise ArtifactTooLarge(f"artifact is {len(data)} bytes compressed; the limit is {MAX_ARTIFACT_BYTES}")
    return data


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode(data: bytes, expected_sha256: str) -> dict[str, Any]:
    """The artifact, only if its bytes hash to ``expected_sha256``."""
    actual = checksum(data)
    if actual != expected_sha256:
        raise ArtifactCorrupt(f"sha256 {actual} does not match the published {expected_sha256}")
    try:
        value = json.loads(gzip.decompress(data))
    except (OSError, EOFError, ValueError) as error:
        raise ArtifactCorrupt(f"artifact does not decode: {error}") from None
    if not isinstance(value, dict):
        raise ArtifactCorrupt("artifact is not a JSON object")
    return value
