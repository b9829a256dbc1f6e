"""Why a federation request is refused: one exception carrying the HTTP status and a CamelCase reason.

The hub answers with ``status`` and a JSON body ``{"reason": ..., "message": ...}``; the edge
agent logs the reason of a trigger it refuses. Statuses follow HTTP's meaning: 400 a body that is
not what the endpoint takes, 401 no or an invalid token, 403 a valid identity not allowed to do
this, 409 a replay, 413 too large, 429 too many requests, 503 heartbeats refused for a while on purpose
(a ChaosExperiment's edge-blackout; the agent keeps trying, as when the hub is unreachable).
"""

from __future__ import annotations

import enum


class RefusalReason(enum.StrEnum):
    MISSING_TOKEN = "MissingToken"
    MALFORMED_TOKEN = "MalformedToken"
    ALGORITHM_NOT_ALLOWED = "AlgorithmNotAllowed"
    BAD_SIGNATURE = "BadSignature"
    TOKEN_EXPIRED = "TokenExpired"
    TOKEN_NOT_YET_VALID = "TokenNotYetValid"
    WRONG_AUDIENCE = "WrongAudience"
    WRONG_ISSUER = "WrongIssuer"
    WRONG_TOKEN_TYPE = "WrongTokenType"
    MISSING_CLAIM = "MissingClaim"
    LIFETIME_TOO_LONG = "LifetimeTooLong"
    REPLAYED = "Replayed"
    NODE_MISMATCH = "NodeMismatch"
    NODE_REVOKED = "NodeRevoked"
    NODE_UNKNOWN = "NodeUnknown"
    NODE_NOT_APPROVED = "NodeNotApproved"
    KEY_MISMATCH = "KeyMismatch"
    WPK_NOT_ALLOWED = "WpkNotAllowed"
    BAD_PARAMETERS = "BadParameters"
    MALFORMED_BODY = "MalformedBody"
    BODY_TOO_LARGE = "BodyTooLarge"
    RATE_LIMITED = "RateLimited"
    LEDGER_FULL = "LedgerFull"
    LEDGER_UNAVAILABLE = "LedgerUnavailable"
    UNKNOWN_TRIGGER = "UnknownTrigger"
    SLOW_CLIENT = "SlowClient"
    HEARTBEAT_BLACKOUT = "HeartbeatBlackout"


class Refused(Exception):
    """A request (or a trigger) that must not be acted on, with the status the hub answers."""

    def __init__(self, status: int, reason: RefusalReason, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    def body(self) -> dict[str, str]:
        return {"reason": str(self.reason), "message": self.message}


def unauthorized(reason: RefusalReason, message: str) -> Refused:
    return Refused(401, reason, message)


def forbidden(reason: RefusalReason, message: str) -> Refused:
    return Refused(403, reason, message)
