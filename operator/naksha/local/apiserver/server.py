"""The HTTP face of the API emulator: a kmock ``KubernetesEmulator`` with a direct fast path.

Every request first passes the access gate (``access.Gate``): no credentials, 401; not allowed,
403. The identity it acts as is kept on the request under ``USER``.

When no user reaction is registered on the kmock DSL, requests skip kmock's matching (which
rescans the request log on every request) and go straight to ``ApiServer.dispatch``; with
reactions registered, kmock's own machinery answers as usual, so tests can still inject faults.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml

from naksha.local.apiserver import (
    discovery,
    errors,
    openapi_v2,
    patching,
    portforwarding,
    rbac,
    reviews,
    scaling,
    serviceaccounts,
    tables,
)
from naksha.local.apiserver.access import Gate
from naksha.local.apiserver.accounting import RequestCounter
from naksha.local.apiserver.authn import ServiceAccountTokens, UserInfo
from naksha.local.apiserver.encoding import decode_json, encode_json
from naksha.local.apiserver.objects import ObjectService
from naksha.local.apiserver.requests import Target, flag, is_protobuf, parse_target, wants_table
from naksha.local.apiserver.resources import Catalog
from naksha.local.apiserver.selectors import SelectorError, parse_field_selector, parse_label_selector
from naksha.local.apiserver.store import HISTORY_LIMIT, Store
from naksha.local.apiserver.watching import BOOKMARK_SECONDS, WatchFilter, encode, stream

logger = logging.getLogger(__name__)
USER = aiohttp.web.RequestKey("user", UserInfo)  # the identity a request acts as, set by the gate
JSON = "application/json"
_PROTOBUF_MESSAGE = (
    "the local control plane speaks JSON only: protobuf request bodies are not supported "
    "(kubectl create <kind> imperatively, and Helm's Secret release storage, send protobuf; "
    "use kubectl apply -f, or HELM_DRIVER=memory)"
)


@attrs.define(kw_only=True)
class ApiEmulator(kmock.KubernetesEmulator):
    """A Kubernetes API server in memory, served over HTTP by ``kmock.Server``."""

    state_dir: Path = attrs.field(factory=lambda: Path("."))
    history_limit: int = HISTORY_LIMIT  # watch events kept for resuming; older resourceVersions get 410
    bookmark_seconds: float = BOOKMARK_SECONDS
    authorization_mode: str = rbac.RBAC  # or rbac.ALWAYS_ALLOW
    store: Store = attrs.field(init=False)
    catalog: Catalog = attrs.field(factory=Catalog, init=False)
    api: ObjectService = attrs.field(init=False)
    _baseline_payloads: int = attrs.field(default=0, init=False)
    served: RequestCounter = attrs.field(factory=RequestCounter, init=False)
    tokens: ServiceAccountTokens = attrs.field(init=False)
    authorizer: rbac.Authorizer = attrs.field(init=False)
    gate: Gate = attrs.field(init=False)
    review_api: reviews.Reviews = attrs.field(init=False)
    # Set by the kubelet that runs the pods: what ``pods/portforward`` connects to.
    pod_opener: portforwarding.PodOpener | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.store = Store(self.history_limit)
        self.api = ObjectService(self.store, self.catalog)
        self.tokens = ServiceAccountTokens(self.store)
        self.authorizer = rbac.Authorizer(self.store, self.authorization_mode)
        self.gate = Gate(self.tokens, self.authorizer)
        self.review_api = reviews.Reviews(self.tokens, self.authorizer, self.catalog)
        rbac.create_bootstrap_policy(self.api)
        self._baseline_payloads = len(self._payloads)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        try:
            raw_request[USER] = self.gate.admit(raw_request)
        except errors.ApiError as error:
            return _json(error.status(), error.code)
        if len(self._payloads) > self._baseline_payloads:
            return await super().__call__(raw_request)  # user reactions registered: kmock decides
        try:
            return await self.dispatch(raw_request)
        except errors.ApiError as error:
            return _json(error.status(), error.code)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            raise
        except Exception as error:
            return _json(
                errors.ApiError(500, "InternalError", f"{type(error).__name__}: {error}").status(), 500
            )

    async def dispatch(self, request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if (
            request.method in ("POST", "PUT", "PATCH")
            and is_protobuf(request.headers.get("Content-Type", ""))
            and not serviceaccounts.is_token_request(parts)
            and not reviews.is_review(parts)
        ):
            raise errors.unsupported_media_type(_PROTOBUF_MESSAGE)
        if request.method == "GET" and parts == ["metrics"]:
            return aiohttp.web.Response(text=self.served.prometheus_text(), content_type="text/plain")
        if request.method == "GET" and parts == ["openapi", "v2"]:
            return openapi_v2.response(self.catalog, request.headers.get("Accept", ""))
        if request.method == "GET":
            document = self._document(parts)
            if document is not None:
                return _json(document)
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        target = parse_target(self.catalog, group, version, rest)
        if target is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        watch = flag(request.query.get("watch"))
        try:
            response = await self._serve(request, target)
        except errors.ApiError as error:
            self.served.count(request.method, target, watch=watch, code=error.code)
            raise
        self.served.count(request.method, target, watch=watch, code=response.status)
        return response

    def _document(self, parts: list[str]) -> dict[str, Any] | None:
        if parts == ["version"]:
            return discovery.SERVER_VERSION
        if not parts:
            return {"paths": ["/api", "/api/v1", "/apis", "/openapi/v2", "/openapi/v3", "/version"]}
        if parts in (["healthz"], ["readyz"], ["livez"]):
            return {"status": "ok"}
        if parts == ["api"]:
            return discovery.api_versions()
        if parts == ["apis"]:
            return discovery.api_group_list(self.catalog)
        if parts[0] == "apis" and len(parts) == 2:
            found = discovery.api_group(self.catalog, parts[1])
            if found is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
            return found
        if (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            found = discovery.resource_list(self.catalog, group, version)
            if found is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
            return found
        if parts == ["openapi", "v3"]:
            return discovery.openapi_root(self.catalog)
        if parts == [".well-known", "openid-configuration"]:
            return discovery.openid_configuration(self.tokens.issuer)
        if parts == ["openid", "v1", "jwks"]:
            return self.tokens.public_jwks()
        if parts[:2] == ["openapi", "v3"]:
            group, version = ("", parts[3]) if parts[2:3] == ["api"] else (parts[3], parts[4])
            return discovery.openapi_document(self.catalog, group, version)
        if parts[:1] == ["openapi"]:
            raise errors.ApiError(404, "NotFound", "only /openapi/v2 and /openapi/v3 are served")
        return None

    async def _serve(self, request: aiohttp.web.BaseRequest, target: Target) -> aiohttp.web.StreamResponse:
        query = request.query
        method = request.method
        dry_run = query.get("dryRun") == "All"
        strict = query.get("fieldValidation") == "Strict"
        resource = target.resource
        if resource.group in reviews.GROUPS:
            if method != "POST" or target.name is not None:
                raise errors.method_not_allowed(f"{method} is not allowed on {resource.plural}")
            body = await reviews.read_body(request, resource.kind)
            return _json(self.review_api.answer(resource, target.namespace, body, request[USER]), 201)
        if target.name is None:
            if method == "GET" and flag(query.get("watch")):
                return await self._watch(request, target)
            if method == "GET":
                return _json(self._list(request, target))
            if method == "POST":
                body = await _body(request)
                created = self.api.create(resource, target.namespace, body, dry_run=dry_run, strict=strict)
                return _json(created, 201)
            if method == "DELETE":
                return _json(self._delete_collection(request, target))
            raise errors.method_not_allowed(f"{method} is not allowed on a collection")
        name = target.name
        if target.subresource == "token":
            if method != "POST":
                raise errors.method_not_allowed(f"{method} is not allowed on serviceaccounts/token")
            body = await serviceaccounts.token_request_body(request)
            token = serviceaccounts.token_request(self.api, self.tokens, target.namespace, name, body)
            return _json(token, 201)
        if target.subresource == "log":
            return self._log(request, target)
        if target.subresource == "portforward":
            pod = self.api.get(resource, target.namespace, name)
            return await portforwarding.serve(request, pod, self.pod_opener)
        if target.subresource == "scale":
            body = await _body(request) if method in ("PATCH", "PUT") else None
            return _json(scaling.scale(self.api, target, request.headers.get("Content-Type", ""), body))
        if method == "GET" and flag(query.get("watch")):
            return await self._watch(request, target, single=name)
        if method == "GET":
            obj = self.api.get(resource, target.namespace, name)
            if wants_table(request.headers.get("Accept", "")):
                return _json(tables.table(resource, [obj], resource_version=str(self.store.revision)))
            return _json(obj)
        if method == "PUT":
            body = await _body(request)
            return _json(
                self.api.replace(
                    resource,
                    target.namespace,
                    name,
                    body,
                    subresource=target.subresource,
                    dry_run=dry_run,
                    strict=strict,
                )
            )
        if method == "PATCH":
            return await self._patch(request, target, dry_run, strict)
        if method == "DELETE":
            options = await _body(request, optional=True) or {}
            propagation = query.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
            obj, gone = self.api.delete(
                resource,
                target.namespace,
                name,
                propagation=propagation,
                dry_run=dry_run or options.get("dryRun") == ["All"],
                preconditions=options.get("preconditions"),
            )
            # Pods are deleted gracefully in Kubernetes, so their DELETE answers with the pod itself.
            if gone and resource.kind != "Pod":
                return _json(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": {
                            "name": name,
                            "group": resource.group,
                            "kind": resource.plural,
                            "uid": obj["metadata"].get("uid"),
                        },
                    }
                )
            return _json(obj)
        raise errors.method_not_allowed(f"{method} is not allowed on {resource.plural}")

    async def _patch(
        self, request: aiohttp.web.BaseRequest, target: Target, dry_run: bool, strict: bool
    ) -> aiohttp.web.Response:
        resource, name = target.resource, target.name or ""
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type == "application/apply-patch+yaml":
            text = await request.text()
            try:
                body = yaml.safe_load(text)
            except yaml.YAMLError as error:
                raise errors.bad_request(f"the applied configuration is not valid YAML: {error}") from error
            obj, created = self.api.apply(
                resource,
                target.namespace,
                name,
                body,
                subresource=target.subresource,
                dry_run=dry_run,
                strict=strict,
                manager=request.query.get("fieldManager", ""),
            )
            return _json(obj, 201 if created else 200)
        body = await _body(request)
        if content_type == "application/json-patch+json":

            def patcher(current: dict[str, Any]) -> dict[str, Any]:
                result: dict[str, Any] = patching.apply_json_patch(current, body)
                return result
        elif content_type == "application/strategic-merge-patch+json":
            if not patching.strategic_merge_supported(resource.api_version, resource.kind):
                raise errors.unsupported_media_type(
                    "the body of the request was in an unknown format - accepted media types include: "
                    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                )

            def patcher(current: dict[str, Any]) -> dict[str, Any]:
                result: dict[str, Any] = patching.apply_strategic_merge_patch(
                    current, body, resource.api_version, resource.kind
                )
                return result
        elif content_type in ("application/merge-patch+json", JSON):

            def patcher(current: dict[str, Any]) -> dict[str, Any]:
                result: dict[str, Any] = patching.apply_merge_patch(current, body)
                return result
        else:
            raise errors.unsupported_media_type(f"unsupported patch type {content_type!r}")
        return _json(
            self.api.patch(
                resource,
                target.namespace,
                name,
                patcher,
                subresource=target.subresource,
                dry_run=dry_run,
                strict=strict,
            )
        )

    def _list(self, request: aiohttp.web.BaseRequest, target: Target) -> dict[str, Any]:
        resource = target.resource
        watch_filter = _filter(request, target)
        candidates = self._candidates(resource.key, target.namespace or None, watch_filter)
        items = [obj for obj in candidates if watch_filter.matches(obj)]
        items.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        metadata: dict[str, Any] = {"resourceVersion": str(self.store.revision)}
        token = request.query.get("continue")
        start = int(_decode_token(token)) if token else 0
        limit = int(request.query.get("limit") or 0)
        if limit > 0:
            if start + limit < len(items):
                metadata["continue"] = _encode_token(str(start + limit))
                metadata["remainingItemCount"] = len(items) - start - limit
            items = items[start : start + limit]
        elif start:
            items = items[start:]
        if wants_table(request.headers.get("Accept", "")):
            result = tables.table(resource, items, resource_version=metadata["resourceVersion"])
            result["metadata"] = metadata
            return result
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.api_version,
            "metadata": metadata,
            "items": items,
        }

    def _candidates(
        self, key: str, namespace: str | None, watch_filter: WatchFilter
    ) -> Iterable[dict[str, Any]]:
        """The objects a list must look at: the smallest label-index set, or everything."""
        best: list[dict[str, Any]] | None = None
        for label, value in watch_filter.labels.equalities:
            found = self.store.labelled(key, label, value)
            if best is None or len(found) < len(best):
                best = found
        return self.store.items(key, namespace) if best is None else best

    async def _watch(
        self, request: aiohttp.web.BaseRequest, target: Target, single: str | None = None
    ) -> aiohttp.web.StreamResponse:
        resource = target.resource
        watch_filter = _filter(request, target, single=single)
        raw_since = request.query.get("resourceVersion")
        since = int(raw_since) if raw_since and raw_since != "0" and raw_since.isdigit() else None
        timeout = float(request.query["timeoutSeconds"]) if request.query.get("timeoutSeconds") else None
        as_table = wants_table(request.headers.get("Accept", ""))
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": JSON})
        response.enable_chunked_encoding()
        await response.prepare(request)

        def render(obj: dict[str, Any]) -> dict[str, Any]:
            return tables.table(resource, [obj]) if as_table else obj

        async def send(event: dict[str, Any]) -> None:
            await response.write(encode(event))

        try:
            await stream(
                self.store,
                resource.key,
                resource.kind,
                resource.api_version,
                watch_filter,
                send,
                since=since,
                timeout=timeout,
                bookmarks=flag(request.query.get("allowWatchBookmarks")),
                bookmark_seconds=self.bookmark_seconds,
                render=render,
            )
            await response.write_eof()
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            logger.debug("a watcher of %s hung up", target.resource.plural)  # nothing left to send it
        return response

    def _delete_collection(self, request: aiohttp.web.BaseRequest, target: Target) -> dict[str, Any]:
        listing = self._list(request, target)
        for obj in listing["items"]:
            self.api.delete(target.resource, obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
        return listing

    def _log(self, request: aiohttp.web.BaseRequest, target: Target) -> aiohttp.web.Response:
        pod = self.api.get(target.resource, target.namespace, target.name or "")
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = request.query.get("container") or (containers[0] if containers else "")
        if container not in containers:
            raise errors.bad_request(f"container {container} is not valid for pod {target.name}")
        path = self.state_dir / "pods" / target.namespace / (target.name or "") / f"{container}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        if request.query.get("tailLines"):
            text = "".join(text.splitlines(keepends=True)[-int(request.query["tailLines"]) :])
        return aiohttp.web.Response(text=text, content_type="text/plain")


def _filter(request: aiohttp.web.BaseRequest, target: Target, single: str | None = None) -> WatchFilter:
    fields = request.query.get("fieldSelector") or ""
    if single:
        fields = ",".join(filter(None, [fields, f"metadata.name={single}"]))
    try:
        return WatchFilter(
            target.namespace,
            parse_label_selector(request.query.get("labelSelector")),
            parse_field_selector(fields),
        )
    except SelectorError as error:
        raise errors.bad_request(str(error)) from error


async def _body(request: aiohttp.web.BaseRequest, *, optional: bool = False) -> Any:
    raw = await request.read()
    if not raw:
        if optional:
            return None
        raise errors.bad_request("the request has no body")
    try:
        return decode_json(raw)
    except ValueError as error:
        raise errors.bad_request(f"the request body is not valid JSON: {error}") from error


def _json(body: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=encode_json(body), status=status, content_type=JSON)


def _encode_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _decode_token(value: str) -> str:
    try:
        return base64.urlsafe_b64decode(value.encode()).decode()
    except ValueError as error:
        raise errors.bad_request("invalid continue token") from error
