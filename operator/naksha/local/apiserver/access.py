"""The gate every request passes before the emulator serves it: authenticate, impersonate, authorise.

Authentication tries the TLS client certificate, then the bearer token; neither gives 401.
``Impersonate-User``/``-Group``/``-Uid`` headers (``kubectl --as``) switch to another identity
when the caller may ``impersonate`` it. Then the request's attributes go to the authorizer;
a denial is the real server's 403.
"""

from __future__ import annotations

import weakref
from typing import Any

import aiohttp.web

from naksha.local.apiserver import errors
from naksha.local.apiserver.attributes import (
    Attributes,
    forbidden,
    request_attributes,
    unauthorized,
)
from naksha.local.apiserver.authn import (
    ServiceAccountTokens,
    TokenError,
    UserInfo,
    bearer_token,
    parse_service_account,
    service_account_user,
    with_authenticated,
)
from naksha.local.apiserver.pki import subject_of
from naksha.local.apiserver.rbac import Authorizer
from naksha.local.apiserver.requests import flag

IMPERSONATE_USER = "Impersonate-User"
IMPERSONATE_GROUP = "Impersonate-Group"
IMPERSONATE_UID = "Impersonate-Uid"


class Gate:
    """Turns a raw request into the identity it acts as, or raises 401/403."""

    def __init__(self, tokens: ServiceAccountTokens, authorizer: Authorizer) -> None:
        self.tokens = tokens
        self.authorizer = authorizer
        # A TLS connection's peer certificate cannot change, so its identity is worked out once.
        self._by_session: weakref.WeakKeyDictionary[Any, UserInfo] = weakref.WeakKeyDictionary()

    def authenticate(self, request: aiohttp.web.BaseRequest) -> UserInfo:
        transport = request.transport
        session = transport.get_extra_info("ssl_object") if transport is not None else None
        if session is not None:
            known = self._by_session.get(session)
            if known is not None:
                return known
            subject = subject_of(session.getpeercert())
            if subject is not None:
                user = UserInfo(username=subject[0], groups=with_authenticated(subject[1]))
                self._by_session[session] = user
                return user
        token = bearer_token(request.headers.get("Authorization", ""))
        if token is None:
            raise unauthorized()
        try:
            user, _ = self.tokens.authenticate(token)
        except TokenError as error:
            raise unauthorized() from error
        return user

    def admit(self, request: aiohttp.web.BaseRequest) -> UserInfo:
        """The identity the request acts as, once it is allowed to do what it asks."""
        user = self.authenticate(request)
        headers = request.headers
        if IMPERSONATE_USER in headers or IMPERSONATE_GROUP in headers or IMPERSONATE_UID in headers:
            user = self.impersonated(user, request)
        if self.authorizer.allows_everything(user):
            return user  # system:masters (or always-allow): no rule to read, as on a real server
        attributes = request_attributes(user, request.method, request.path, flag(request.query.get("watch")))
        self.require(attributes)
        return user

    def require(self, attributes: Attributes) -> None:
        allowed, reason = self.authorizer.authorize(attributes)
        if not allowed:
            raise forbidden(attributes, reason)

    def impersonated(self, user: UserInfo, request: aiohttp.web.BaseRequest) -> UserInfo:
        headers = request.headers
        name = headers.get(IMPERSONATE_USER)
        groups = headers.getall(IMPERSONATE_GROUP, [])
        uid = headers.get(IMPERSONATE_UID, "")
        if name is None:
            if groups or uid:
                raise errors.bad_request("requested impersonation of groups or uid without a user")
            return user
        account = parse_service_account(name)
        if account is not None:
            self._may_impersonate(user, "serviceaccounts", account[1], namespace=account[0])
        else:
            self._may_impersonate(user, "users", name)
        for group in groups:
            self._may_impersonate(user, "groups", group)
        if uid:
            self._may_impersonate(user, "uids", uid, group="authentication.k8s.io")
        if account is not None:
            base = service_account_user(*account, uid=uid)
            return UserInfo(base.username, uid, with_authenticated([*base.groups, *groups]))
        return UserInfo(name, uid, with_authenticated(groups))

    def _may_impersonate(
        self, user: UserInfo, resource: str, name: str, *, namespace: str = "", group: str = ""
    ) -> None:
        self.require(
            Attributes(
                user,
                "impersonate",
                True,
                api_group=group,
                resource=resource,
                namespace=namespace,
                name=name,
            )
        )
