"""Who may use the AgentRun HTTP API, in its two modes (``NAKSHA_API_AUTH``).

``kubernetes`` (the default when the API is on): the bearer token is a Kubernetes identity's
(a ServiceAccount's token bound to the API's audience, checked with TokenReview) or an external
issuer's JWT (``naksha.access.issuers``); RBAC decides with SubjectAccessReviews:

- ``POST /agent/run`` needs ``create agentruns`` in the run's namespace, the RBAC of every act
  node's work package on the target's kind there (from the WPK registry: ``scale`` on a
  Deployment needs ``get, patch deployments.apps``), ``get configmaps`` where a playbook is read,
  and what a WPK parameter naming a namespace reads there — so a caller cannot make the operator
  do what the caller could not do themselves;
- ``GET /agent/status/NAME`` needs ``get agentruns`` in that namespace.

``hs256`` (opt-in, the weakest): one shared secret signs every caller's token
(``naksha.domain.agentrun.tokens``); scopes and a namespace claim stand in for RBAC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from naksha.access.reviews import Access, Authenticator, Authorizer, Identity
from naksha.controllers.agentrun.fence import Reach
from naksha.domain.agentrun import tokens
from naksha.models.group import GROUP

READ_RUNS = Access("get", GROUP, "agentruns")


@dataclass(frozen=True)
class Caller:
    subject: str
    fence: frozenset[str] | None = None  # a shared-secret token's namespace claim; None: RBAC decides
    identity: Identity | None = None
    token: tokens.Caller | None = None


class Gate(Protocol):
    """Authentication (raises a 401 error) and authorisation (raises a 403 error) of one request."""

    def caller(self, authorization: str | None) -> Caller: ...

    def may_start(self, caller: Caller, namespace: str, reached: Mapping[str, Reach]) -> None: ...

    def may_read(self, caller: Caller, namespace: str) -> None: ...


class KubernetesGate:
    def __init__(self, authenticator: Authenticator, authorizer: Authorizer) -> None:
        self.authenticator = authenticator
        self.authorizer = authorizer

    def caller(self, authorization: str | None) -> Caller:
        identity = self.authenticator.authenticate(authorization)
        return Caller(subject=identity.user, identity=identity)

    def may_start(self, caller: Caller, namespace: str, reached: Mapping[str, Reach]) -> None:
        assert caller.identity is not None
        # The run's own namespace first, so the usual refusal names "create agentruns".
        for where in sorted(reached, key=lambda ns: (ns != namespace, ns)):
            self.authorizer.require(caller.identity, where, reached[where].access)

    def may_read(self, caller: Caller, namespace: str) -> None:
        assert caller.identity is not None
        self.authorizer.require(caller.identity, namespace, [READ_RUNS])


class SharedSecretGate:
    def __init__(self, secret: str) -> None:
        self.secret = tokens.check_secret(secret)

    def caller(self, authorization: str | None) -> Caller:
        token = tokens.authenticate(self.secret, authorization)
        return Caller(subject=token.subject, fence=token.namespaces, token=token)

    def may_start(self, caller: Caller, namespace: str, reached: Mapping[str, Reach]) -> None:
        assert caller.token is not None
        caller.token.require("agent:run", namespace)

    def may_read(self, caller: Caller, namespace: str) -> None:
        assert caller.token is not None
        caller.token.require("agent:read", namespace)
