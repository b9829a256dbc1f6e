"""Who is calling, as Kubernetes names users, and the ways asking about a caller can fail."""

from __future__ import annotations

from dataclasses import dataclass

from naksha.errors import NakshaError


class Unauthenticated(NakshaError):
    """401: no token, or one that is forged, expired, malformed, or not meant for this endpoint."""


class Denied(NakshaError):
    """403: the caller is known, and RBAC does not let them do this."""


class ReviewUnavailable(NakshaError):
    """503: the cluster could not be asked (unreachable, overloaded); the caller may retry."""


@dataclass(frozen=True)
class Identity:
    """``user``, ``groups``, ``uid``, ``extra`` as a TokenReview answers them (or an issuer maps them)."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    via: str = "TokenReview"  # or the external issuer that vouched for it

    @property
    def key(self) -> str:
        return "|".join([self.user, ",".join(self.groups), self.uid, repr(self.extra)])
