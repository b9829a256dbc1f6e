"""The HTTP face of the API emulator: a kmock ``KubernetesEmulator`` with a direct fast path.

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

from naksha.local.apiserver import discovery, errors, patching, tables
from naksha.local.apiserver.accounting import RequestCounter
from naksha.local.apiserver.encoding import decode_json, encode_json
from naksha.local.apiserver.objects import ObjectService
from naksha.local.apiserver.requests import Target, flag, is_protobuf, parse_target, wants_table
from naksha.local.apiserver.resources import Catalog
from naksha.local.apiserver.selectors import SelectorError, parse_field_selector, parse_label_selector
from naksha.local.apiserver.store import HISTORY_LIMIT, Store
from naksha.local.apiserver.watching import BOOKMARK_SECONDS, WatchFilter, encode, stream

logger = logging.getLogger(__name__)
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
    store: Store = attrs.field(init=False)
    catalog: Catalog = attrs.field(factory=Catalog, init=False)
    api: ObjectService = attrs.field(init=False)
    _baseline_payloads: int = attrs.field(default=0, init=False)
    served: RequestCounter = attrs.field(factory=RequestCounter, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.store = Store(self.history_limit)
        self.api = ObjectService(self.store, self.catalog)
        self._baseline_payloads = len(self._payloads)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
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
        if request.method in ("POST", "PUT", "PATCH") and is_protobuf(
            request.headers.get("Content-Type", "")
        ):
            raise errors.unsupported_media_type(_PROTOBUF_MESSAGE)
        if request.method == "GET" and parts == ["metrics"]:
            return aiohttp.web.Response(text=self.served.prometheus_text(), content_type="text/plain")
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
            return {"paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version"]}
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
        if parts[:2] == ["openapi", "v3"]:
            group, version = ("", parts[3]) if parts[2:3] == ["api"] else (parts[3], parts[4])
            return discovery.openapi_document(self.catalog, group, version)
        if parts[:1] == ["openapi"]:
            raise errors.ApiError(404, "NotFound", "only /openapi/v3 is served")
        return None

    async def _serve(self, request: aiohttp.web.BaseRequest, target: Target) -> aiohttp.web.StreamResponse:
        query = request.query
        method = request.method
        dry_run = query.get("dryRun") == "All"
        strict = query.get("fieldValidation") == "Strict"
        resource = target.resource
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
        if target.subresource == "log":
            return self._log(request, target)
        if target.subresource == "scale":
            return _json(await self._scale(request, target))
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

    async def _scale(self, request: aiohttp.web.BaseRequest, target: Target) -> dict[str, Any]:
        resource, name = target.resource, target.name or ""
        if request.method in ("PATCH", "PUT"):
            body = await _body(request)
            if request.headers.get("Content-Type", "").startswith("application/json-patch+json"):
                scale = patching.apply_json_patch(
                    _scale_of(self.api.get(resource, target.namespace, name)), body
                )
            else:
                scale = patching.apply_merge_patch(
                    _scale_of(self.api.get(resource, target.namespace, name)), body
                )
            replicas = (scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise errors.invalid(
                    "Scale", "autoscaling", name, [f"spec.replicas: Invalid value: {replicas!r}"]
                )
            self.api.patch(
                resource,
                target.namespace,
                name,
                lambda obj: patching.apply_merge_patch(obj, {"spec": {"replicas": replicas}}),
            )
        return _scale_of(self.api.get(resource, target.namespace, name))

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


def _scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in selector.items()),
        },
    }


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
