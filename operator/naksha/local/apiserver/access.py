"""The gate every request passes before the emulator serves it: authentication.

Authentication tries the TLS client certificate, then the bearer token; neither gives 401.
"""

from __future__ import annotations

import aiohttp.web

from naksha.local.apiserver.attributes import unauthorized
from naksha.local.apiserver.authn import (
    ServiceAccountTokens,
    TokenError,
    UserInfo,
    bearer_token,
    with_authenticated,
)
from naksha.local.apiserver.pki import subject_of


class Gate:
    """Turns a raw request into the identity it acts as, or raises 401/403."""

    def __init__(self, tokens: ServiceAccountTokens) -> None:
        self.tokens = tokens

    def authenticate(self, request: aiohttp.web.BaseRequest) -> UserInfo:
        transport = request.transport
        peer = transport.get_extra_info("peercert") if transport is not None else None
        subject = subject_of(peer)
        if subject is not None:
            return UserInfo(username=subject[0], groups=with_authenticated(subject[1]))
        token = bearer_token(request.headers.get("Authorization", ""))
        if token is None:
            raise unauthorized()
        try:
            user, _ = self.tokens.authenticate(token)
        except TokenError as error:
            raise unauthorized() from error
        return user

    def admit(self, request: aiohttp.web.BaseRequest) -> UserInfo:
        """The identity the request acts as."""
        return self.authenticate(request)
