"""The edge agent's state directory: everything it must remember across a restart or a SIGKILL.

``node.key``       the node's Ed25519 private key, mode 0600, created once (a restart reuses it)
``identity.json``  node name, namespace, the pinned hub key, the current credential (0600)
``ledger.json``    ids of triggers already started, kept until they expire: written and fsynced
                   *before* a trigger runs, so a kill at any point runs it at most once
``results/``       results not yet accepted by the hub, one file each, oldest dropped past
                   ``max_results`` (the count of dropped results is kept in ``dropped``)

Every file is written to a temporary name, fsynced, then renamed: a kill leaves the old or the
new content, never a torn one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from naksha.domain.federation import tokens
from naksha.domain.federation.ledger import ReplayLedger

MAX_RESULTS = 1000


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class StateDir:
    def __init__(self, root: Path, *, max_results: int = MAX_RESULTS) -> None:
        self.root = root
        self.max_results = max_results
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        (root / "results").mkdir(exist_ok=True, mode=0o700)

    # --- key and identity -----------------------------------------------------------------------

    def node_key(self) -> tokens.PrivateKey:
        path = self.root / "node.key"
        if path.exists():
            if path.stat().st_mode & 0o077:
                raise PermissionError(f"{path} is readable by others; expected mode 0600")
            return tokens.load_private_pem(path.read_bytes())
        key = tokens.generate_key()
        write_atomic(path, tokens.private_pem(key))
        return key

    def identity(self) -> dict[str, Any] | None:
        path = self.root / "identity.json"
        return dict(json.loads(path.read_text())) if path.exists() else None

    def save_identity(self, identity: dict[str, Any]) -> None:
        write_atomic(self.root / "identity.json", json.dumps(identity, sort_keys=True).encode())

    # --- the replay ledger ----------------------------------------------------------------------

    def ledger(self) -> ReplayLedger:
        path = self.root / "ledger.json"
        return ReplayLedger.from_wire(json.loads(path.read_text()) if path.exists() else {})

    def save_ledger(self, ledger: ReplayLedger) -> None:
        ledger.prune(time.time())
        write_atomic(self.root / "ledger.json", json.dumps(ledger.to_wire()).encode())

    # --- the result queue -----------------------------------------------------------------------

    def queue(self, result: dict[str, Any]) -> None:
        """Keep a result until the hub accepts it; past the bound the oldest is dropped and counted."""
        jti = str(result["jti"])
        if self.queued(jti):
            return
        write_atomic(self.root / "results" / f"{time.time_ns():020d}-{jti}.json", json.dumps(result).encode())
        files = self.pending()
        for stale in files[: max(0, len(files) - self.max_results)]:
            stale.unlink(missing_ok=True)
            self.count_dropped()

    def queued(self, jti: str) -> bool:
        return any((self.root / "results").glob(f"*-{jti}.json"))

    def pending(self) -> list[Path]:
        return sorted(
            path for path in (self.root / "results").glob("*.json") if not path.name.startswith(".")
        )

    def count_dropped(self) -> None:
        write_atomic(self.root / "dropped", str(self.dropped() + 1).encode())

    def dropped(self) -> int:
        path = self.root / "dropped"
        return int(path.read_text() or 0) if path.exists() else 0
