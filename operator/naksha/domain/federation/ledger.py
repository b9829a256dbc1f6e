"""Replay ledgers: the one-time ids (``jti``) already used, each kept until its token expires.

A token's ``jti`` must be remembered only as long as the token itself would still verify: once
expired, the signature check refuses it anyway. So the ledger is bounded by the tokens alive at
once, not by history. When full it refuses new ids (429) rather than forgetting live ones, since
forgetting would reopen a replay. ``to_wire``/``from_wire`` give the form stored durably (the
hub keeps it in a Secret, the edge agent in its state directory).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from naksha.domain.federation.refusals import RefusalReason, Refused
from naksha.domain.federation.tokens import LEEWAY

DEFAULT_CAPACITY = 100_000


class ReplayLedger:
    def __init__(
        self, entries: Mapping[str, float] | None = None, *, capacity: int = DEFAULT_CAPACITY
    ) -> None:
        self.capacity = capacity
        self._entries: dict[str, float] = dict(entries or {})

    def __contains__(self, jti: object) -> bool:
        return jti in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, jti: str, *, what: str = "token") -> None:
        """409 Replayed when ``jti`` was used already."""
        if jti in self._entries:
            raise Refused(409, RefusalReason.REPLAYED, f"{what} {jti} was already used")

    def use(self, jti: str, expires: float, now: float, *, what: str = "token") -> None:
        """Record ``jti`` as used; 409 when it was, 429 when the ledger is full of live ids."""
        self.check(jti, what=what)
        if len(self._entries) >= self.capacity:
            self.prune(now)
            if len(self._entries) >= self.capacity:
                raise Refused(
                    429, RefusalReason.LEDGER_FULL, f"{self.capacity} live {what}s already recorded"
                )
        self._entries[jti] = expires

    def forget(self, jti: str) -> None:
        """Withdraw an id whose use could not be made durable (its request failed)."""
        self._entries.pop(jti, None)

    def prune(self, now: float) -> int:
        """Forget ids whose tokens expired (past the verifier's leeway); returns how many."""
        stale = [jti for jti, expires in self._entries.items() if expires + LEEWAY < now]
        for jti in stale:
            del self._entries[jti]
        return len(stale)

    def to_wire(self) -> dict[str, float]:
        return dict(self._entries)

    @classmethod
    def from_wire(cls, data: Any, *, capacity: int = DEFAULT_CAPACITY) -> ReplayLedger:
        """A ledger from stored data; entries that are not ``id: number`` are ignored."""
        entries: dict[str, float] = {}
        if isinstance(data, Mapping):
            for jti, expires in data.items():
                if (
                    isinstance(jti, str)
                    and isinstance(expires, int | float)
                    and not isinstance(expires, bool)
                ):
                    entries[jti] = float(expires)
        return cls(entries, capacity=capacity)
