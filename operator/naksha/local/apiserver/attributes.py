"""What a request asks to do, in the terms authorization speaks: verb, group, resource, name, namespace.

Derived from the URL alone, the way the real API server's request-info parser does it, so a
request is authorised before the emulator looks the resource up (an unauthorised caller learns
nothing from a 404), and the 403 message names what a Role would have to grant.
"""

from __future__ import annotations

from dataclasses import dataclass

from naksha.local.apiserver import errors
from naksha.local.apiserver.authn import UserInfo

_NAMESPACE_SUBRESOURCES = {"status", "finalize"}
_READ_VERBS = {"GET": "get", "HEAD": "get"}
_WRITE_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class Attributes:
    """One authorization question: may ``user`` do ``verb`` on this resource (or path)?"""

    user: UserInfo
    verb: str
    resource_request: bool
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def qualified_resource(self) -> str:
        return f"{self.resource}.{self.api_group}" if self.api_group else self.resource


def request_attributes(user: UserInfo, method: str, path: str, watch: bool) -> Attributes:
    """The attributes of ``method path`` (``watch`` from the query) made by ``user``."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return Attributes(user, method.lower(), False, path=path if path.startswith("/") else f"/{path}")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if method in _READ_VERBS:
        verb = "watch" if watch else ("get" if name else "list")
    elif method == "DELETE" and not name:
        verb = "deletecollection"
    else:
        verb = _WRITE_VERBS.get(method, method.lower())
    return Attributes(
        user,
        verb,
        True,
        api_group=group,
        api_version=version,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
        path=path,
    )


def denial_message(attributes: Attributes) -> str:
    """The authorizer's half of a 403 message, worded as the real API server words it."""
    user = attributes.user.username
    if not attributes.resource_request:
        return f'User "{user}" cannot {attributes.verb} path "{attributes.path}"'
    resource = attributes.resource
    if attributes.subresource:
        resource = f"{resource}/{attributes.subresource}"
    scope = f'in the namespace "{attributes.namespace}"' if attributes.namespace else "at the cluster scope"
    return (
        f'User "{user}" cannot {attributes.verb} resource "{resource}" '
        f'in API group "{attributes.api_group}" {scope}'
    )


def forbidden(attributes: Attributes, reason: str = "") -> errors.ApiError:
    """A 403 ``Status``: ``deployments.apps "web" is forbidden: User "…" cannot patch resource …``."""
    message = denial_message(attributes)
    if reason:
        message = f"{message}: {reason}"
    if not attributes.resource_request:
        return errors.ApiError(403, "Forbidden", f"forbidden: {message}", details={})
    qualified = attributes.qualified_resource
    if attributes.name:
        text = f'{qualified} "{attributes.name}" is forbidden: {message}'
    else:
        text = f"{qualified} is forbidden: {message}"
    details = {"group": attributes.api_group, "kind": attributes.resource}
    if attributes.name:
        details["name"] = attributes.name
    return errors.ApiError(403, "Forbidden", text, details=details)


def unauthorized() -> errors.ApiError:
    return errors.ApiError(401, "Unauthorized", "Unauthorized")
