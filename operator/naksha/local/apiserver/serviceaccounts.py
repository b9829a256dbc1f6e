"""ServiceAccounts as a cluster keeps them: a ``default`` account in every namespace, and TokenRequest.

``DefaultAccounts`` does what the real ServiceAccount controller does: it creates ``default`` in
each namespace (the existing ones at start, then every new one) and recreates it when deleted.
``token_request`` serves ``POST …/serviceaccounts/<name>/token`` (``kubectl create token``):
an audience-bound, expiring token, optionally bound to a Pod or Secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from typing import Any

import aiohttp.web

from naksha.local.apiserver import errors, protobuf
from naksha.local.apiserver.authn import ServiceAccountTokens
from naksha.local.apiserver.encoding import decode_json
from naksha.local.apiserver.objects import ObjectService
from naksha.local.apiserver.requests import is_protobuf
from naksha.local.apiserver.resources import ResourceDef
from naksha.local.apiserver.store import Subscriber, WatchEvent

logger = logging.getLogger(__name__)
DEFAULT = "default"
NAMESPACES = "/v1/namespaces"
SERVICE_ACCOUNTS = "/v1/serviceaccounts"
MIN_EXPIRATION_SECONDS = 600
DEFAULT_EXPIRATION_SECONDS = 3600
MAX_EXPIRATION_SECONDS = 2**32


class DefaultAccounts:
    """Keeps a ``default`` ServiceAccount in every namespace; runs on the emulator's loop."""

    def __init__(self, api: ObjectService) -> None:
        self.api = api
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def _accounts(self) -> ResourceDef:
        resource = self.api.catalog.get("", "v1", "serviceaccounts")
        assert resource is not None
        return resource

    def ensure(self, namespace: dict[str, Any]) -> None:
        meta = namespace["metadata"]
        if meta.get("deletionTimestamp") or self.api.store.get(SERVICE_ACCOUNTS, meta["name"], DEFAULT):
            return
        with contextlib.suppress(errors.ApiError):  # the namespace is going away, or a race: fine
            self.api.create(self._accounts, meta["name"], {"metadata": {"name": DEFAULT}})

    def start(self) -> None:
        for namespace in list(self.api.store.items(NAMESPACES)):
            self.ensure(namespace)
        for resource in (NAMESPACES, SERVICE_ACCOUNTS):
            subscriber = self.api.store.subscribe(resource, None)
            self._tasks.append(
                asyncio.create_task(self._follow(subscriber), name=f"serviceaccounts-{resource}")
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _follow(self, subscriber: Subscriber) -> None:
        try:
            while True:
                self._handle(await subscriber.queue.get())
        finally:
            self.api.store.unsubscribe(subscriber)

    def _handle(self, event: WatchEvent) -> None:
        meta = event.obj["metadata"]
        if event.resource == NAMESPACES and event.type == "ADDED":
            self.ensure(event.obj)
        elif event.resource == SERVICE_ACCOUNTS and event.type == "DELETED" and meta["name"] == DEFAULT:
            namespace = self.api.store.get(NAMESPACES, "", meta.get("namespace") or "")
            if namespace is not None:
                self.ensure(namespace)


def is_token_request(parts: list[str]) -> bool:
    """Whether the path parts address ``serviceaccounts/<name>/token`` (whose body may be protobuf)."""
    return len(parts) >= 3 and parts[-1] == "token" and parts[-3] == "serviceaccounts"


async def token_request_body(request: aiohttp.web.BaseRequest) -> Any:
    """The TokenRequest of ``request``, sent as JSON or (by kubectl) as protobuf."""
    raw = await request.read()
    try:
        if is_protobuf(request.headers.get("Content-Type", "")):
            return protobuf.decode(raw, "TokenRequest")
        return decode_json(raw) if raw else {}
    except ValueError as error:
        raise errors.bad_request(f"the TokenRequest body cannot be read: {error}") from error


def token_request(
    api: ObjectService, tokens: ServiceAccountTokens, namespace: str, name: str, body: Any
) -> dict[str, Any]:
    """The TokenRequest ``body`` for ServiceAccount ``namespace/name``, answered with its token."""
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a TokenRequest object")
    accounts = api.catalog.get("", "v1", "serviceaccounts")
    assert accounts is not None
    account = api.get(accounts, namespace, name)
    spec = dict(body.get("spec") or {})
    seconds = spec.get("expirationSeconds", DEFAULT_EXPIRATION_SECONDS)
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise _invalid_expiration(name, seconds, "must be an integer")
    if seconds < MIN_EXPIRATION_SECONDS:
        raise _invalid_expiration(name, seconds, "may not specify a duration less than 10 minutes")
    if seconds > MAX_EXPIRATION_SECONDS:
        raise _invalid_expiration(name, seconds, "may not specify a duration larger than 2^32 seconds")
    audiences = [str(a) for a in spec.get("audiences") or []]
    bound = _bound_object(api, namespace, spec.get("boundObjectRef"))
    token, expiry = tokens.issue(account, audiences=audiences, seconds=seconds, bound=bound)
    spec.update({"audiences": audiences or list(tokens.api_audiences), "expirationSeconds": seconds})
    expires = datetime.datetime.fromtimestamp(expiry, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
        "spec": spec,
        "status": {"token": token, "expirationTimestamp": expires},
    }


def _bound_object(api: ObjectService, namespace: str, ref: Any) -> dict[str, Any] | None:
    if not ref:
        return None
    if not isinstance(ref, dict) or ref.get("kind") not in ("Pod", "Secret"):
        kind = ref.get("kind") if isinstance(ref, dict) else ref
        raise errors.invalid(
            "TokenRequest",
            "authentication.k8s.io",
            "",
            [f'spec.boundObjectRef.kind: Unsupported value: "{kind}": supported values: "Pod", "Secret"'],
        )
    plural = "pods" if ref["kind"] == "Pod" else "secrets"
    resource = api.catalog.get("", "v1", plural)
    assert resource is not None
    obj = api.get(resource, namespace, str(ref.get("name") or ""))
    if ref.get("uid") and ref["uid"] != obj["metadata"]["uid"]:
        raise errors.ApiError(
            409,
            "Conflict",
            f"the UID in the bound object reference ({ref['uid']}) does not match the {plural[:-1]}",
        )
    return obj


def _invalid_expiration(name: str, seconds: Any, why: str) -> errors.ApiError:
    cause = f"spec.expirationSeconds: Invalid value: {seconds!r}: {why}"
    return errors.invalid("TokenRequest", "authentication.k8s.io", name, [cause])
