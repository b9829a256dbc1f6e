"""The review APIs, answered by the same authenticator and authorizer that guard every request.

``authentication.k8s.io/v1``: TokenReview (is this bearer token valid, for which audiences, and
whose is it) and SelfSubjectReview (``kubectl auth whoami``). ``authorization.k8s.io/v1``:
SubjectAccessReview (may this user do that), LocalSubjectAccessReview (the same, in one
namespace), SelfSubjectAccessReview (``kubectl auth can-i``) and SelfSubjectRulesReview
(``kubectl auth can-i --list``). Nothing is stored; each answer is the request with a status.
"""

from __future__ import annotations

from typing import Any

import aiohttp.web

from naksha.local.apiserver import errors, protobuf
from naksha.local.apiserver.attributes import Attributes
from naksha.local.apiserver.authn import ServiceAccountTokens, TokenError, UserInfo
from naksha.local.apiserver.encoding import decode_json
from naksha.local.apiserver.rbac import Authorizer
from naksha.local.apiserver.requests import is_protobuf
from naksha.local.apiserver.resources import Catalog, ResourceDef

AUTHENTICATION = "authentication.k8s.io"
AUTHORIZATION = "authorization.k8s.io"
GROUPS = (AUTHENTICATION, AUTHORIZATION)
_CREATE_ONLY = {"verbs": ("create",)}


def _review(group: str, plural: str, kind: str, *, namespaced: bool = False) -> ResourceDef:
    return ResourceDef(
        group, "v1", plural, kind, namespaced=namespaced, singular=kind.lower(), extra=_CREATE_ONLY
    )


RESOURCES: tuple[ResourceDef, ...] = (
    _review(AUTHENTICATION, "tokenreviews", "TokenReview"),
    _review(AUTHENTICATION, "selfsubjectreviews", "SelfSubjectReview"),
    _review(AUTHORIZATION, "subjectaccessreviews", "SubjectAccessReview"),
    _review(AUTHORIZATION, "localsubjectaccessreviews", "LocalSubjectAccessReview", namespaced=True),
    _review(AUTHORIZATION, "selfsubjectaccessreviews", "SelfSubjectAccessReview"),
    _review(AUTHORIZATION, "selfsubjectrulesreviews", "SelfSubjectRulesReview"),
)


def is_review(parts: list[str]) -> bool:
    """Whether the path parts address a review API (whose body kubectl sends as protobuf)."""
    return parts[:1] == ["apis"] and len(parts) > 1 and parts[1] in GROUPS


async def read_body(request: aiohttp.web.BaseRequest, kind: str) -> Any:
    """The review object of ``request``, sent as JSON or as protobuf."""
    raw = await request.read()
    if not raw:
        raise errors.bad_request("the request has no body")
    try:
        if is_protobuf(request.headers.get("Content-Type", "")):
            return protobuf.decode(raw, kind)
        return decode_json(raw)
    except ValueError as error:
        raise errors.bad_request(f"the {kind} body cannot be read: {error}") from error


class Reviews:
    """Answers review requests: ``answer(resource, URL namespace, body, caller)``."""

    def __init__(self, tokens: ServiceAccountTokens, authorizer: Authorizer, catalog: Catalog) -> None:
        self.tokens = tokens
        self.authorizer = authorizer
        for resource in RESOURCES:
            catalog.add(resource)

    def answer(self, resource: ResourceDef, namespace: str, body: Any, caller: UserInfo) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the request body must be a {resource.kind} object")
        spec = body.get("spec") or {}
        if not isinstance(spec, dict):
            raise errors.bad_request("spec must be an object")
        status: dict[str, Any]
        if resource.plural == "tokenreviews":
            status = self._token_review(spec)
        elif resource.plural == "selfsubjectreviews":
            status = {"userInfo": caller.as_review()}
        elif resource.plural == "selfsubjectrulesreviews":
            status = self._rules_review(spec, caller)
        else:
            user = caller if resource.plural == "selfsubjectaccessreviews" else _spec_user(resource, spec)
            if resource.namespaced:
                attributes_namespace = (spec.get("resourceAttributes") or {}).get("namespace", "")
                if attributes_namespace != namespace:
                    raise errors.invalid(
                        resource.kind,
                        AUTHORIZATION,
                        "",
                        [
                            f"spec.resourceAttributes.namespace: Invalid value: {attributes_namespace!r}: "
                            "must match metadata.namespace"
                        ],
                    )
            status = self._access_review(resource, spec, user)
        metadata = {k: v for k, v in (body.get("metadata") or {}).items() if k in ("name", "namespace")}
        if resource.namespaced:
            metadata["namespace"] = namespace
        return {
            "kind": resource.kind,
            "apiVersion": f"{resource.group}/v1",
            "metadata": {**metadata, "creationTimestamp": None},
            "spec": spec,
            "status": status,
        }

    def _token_review(self, spec: dict[str, Any]) -> dict[str, Any]:
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise errors.invalid("TokenReview", AUTHENTICATION, "", ["spec.token: Required value"])
        audiences = [str(a) for a in spec.get("audiences") or []]
        try:
            user, accepted = self.tokens.authenticate(token, audiences or None)
        except TokenError as error:
            return {"authenticated": False, "user": {}, "error": f"[invalid bearer token, {error}]"}
        return {"authenticated": True, "user": user.as_review(), "audiences": accepted}

    def _access_review(self, resource: ResourceDef, spec: dict[str, Any], user: UserInfo) -> dict[str, Any]:
        found = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if sum(isinstance(a, dict) and bool(a) for a in found) != 1:
            raise errors.invalid(
                resource.kind,
                AUTHORIZATION,
                "",
                [
                    "spec.resourceAttributes: Invalid value: exactly one of nonResourceAttributes or "
                    "resourceAttributes must be specified"
                ],
            )
        attrs: dict[str, Any] = dict(found[0] or found[1] or {})

        def text(key: str) -> str:
            return str(attrs.get(key) or "")

        if found[0]:
            attributes = Attributes(
                user,
                text("verb"),
                True,
                api_group=text("group"),
                api_version=text("version"),
                resource=text("resource"),
                subresource=text("subresource"),
                namespace=text("namespace"),
                name=text("name"),
            )
        else:
            attributes = Attributes(user, text("verb"), False, path=text("path"))
        allowed, reason = self.authorizer.authorize(attributes)
        status: dict[str, Any] = {"allowed": allowed}
        if reason:
            status["reason"] = reason
        return status

    def _rules_review(self, spec: dict[str, Any], caller: UserInfo) -> dict[str, Any]:
        namespace = spec.get("namespace")
        if not namespace:
            raise errors.invalid(
                "SelfSubjectRulesReview", AUTHORIZATION, "", ["spec.namespace: Required value"]
            )
        rules, problems = self.authorizer.rules_for(caller, str(namespace))
        resource_rules = []
        path_rules = []
        for rule in rules:
            if rule.get("nonResourceURLs"):
                path_rules.append(
                    {"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]}
                )
            else:
                entry = {key: rule.get(key) or [] for key in ("verbs", "apiGroups", "resources")}
                if rule.get("resourceNames"):
                    entry["resourceNames"] = rule["resourceNames"]
                resource_rules.append(entry)
        status: dict[str, Any] = {
            "resourceRules": resource_rules,
            "nonResourceRules": path_rules,
            "incomplete": bool(problems),
        }
        if problems:
            status["evaluationError"] = "; ".join(problems)
        return status


def _spec_user(resource: ResourceDef, spec: dict[str, Any]) -> UserInfo:
    username = str(spec.get("user") or "")
    groups = [str(g) for g in spec.get("groups") or []]
    if not username and not groups:
        raise errors.invalid(
            resource.kind,
            AUTHORIZATION,
            "",
            ['spec.user: Invalid value: "": at least one of user or group must be specified'],
        )
    extra = {str(k): tuple(str(v) for v in values or []) for k, values in (spec.get("extra") or {}).items()}
    # The review is about exactly the identity given: no system:authenticated is added for it.
    return UserInfo(username, str(spec.get("uid") or ""), tuple(groups), extra)
