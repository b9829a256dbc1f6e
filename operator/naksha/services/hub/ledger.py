"""The hub's durable replay ledger of bootstrap ids: in memory, saved to a Secret before an id counts.

Registrations that arrive together share one write (group commit): each waits until a save that
includes its id has succeeded, so an id is never answered as used-and-accepted before it is
durable, and a thousand registrations do not cost a thousand writes. A failed save withdraws the
ids it carried (their registrations fail with 503 and may be retried with the same token).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from naksha.domain.federation.ledger import ReplayLedger
from naksha.domain.federation.refusals import RefusalReason, Refused


class DurableLedger:
    def __init__(
        self, save: Callable[[Mapping[str, float]], None], entries: Mapping[str, float], *, capacity: int
    ) -> None:
        self._save = save
        self.ledger = ReplayLedger.from_wire(entries, capacity=capacity)
        self._pending: dict[str, float] = {}
        self._flushed: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()

    def check(self, jti: str) -> None:
        self.ledger.check(jti, what="bootstrap token")

    async def use(self, jti: str, expires: float) -> None:
        """Record ``jti``; returns once it is durable. 409 if already used, 503 if it cannot be saved."""
        self.ledger.use(jti, expires, time.time(), what="bootstrap token")
        self._pending[jti] = expires
        if self._flushed is None:
            self._flushed = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().create_task(self._flush(self._flushed))
        await asyncio.shield(self._flushed)

    async def _flush(self, done: asyncio.Future[None]) -> None:
        async with self._lock:
            # Everything recorded until now rides on this write; later ids wait for the next one.
            carried, self._pending, self._flushed = self._pending, {}, None
            self.ledger.prune(time.time())
            try:
                await asyncio.to_thread(self._save, self.ledger.to_wire())
            except Exception as error:
                for jti in carried:
                    self.ledger.forget(jti)
                done.set_exception(
                    Refused(
                        503,
                        RefusalReason.LEDGER_UNAVAILABLE,
                        f"the replay ledger could not be saved: {error}",
                    )
                )
                return
            done.set_result(None)
