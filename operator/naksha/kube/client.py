"""A thin synchronous client over ``kubernetes.client.ApiClient`` for plain-dict objects.

Synchronous on purpose: kopf runs sync handlers in its thread pool, and workers call it from
an executor, so the event loops are never blocked. Every request carries the credentials of
``naksha.kube.auth`` (the same ones kopf logs in with); a 401 reloads them once and retries.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
import urllib3
from kubernetes import client

from naksha.errors import NakshaError, RetryableError
from naksha.kube.auth import Credentials
from naksha.kube.resources import ResourceRef, resource_for
from naksha.models import timestamps
from naksha.models.resources import SERVICE_ACCOUNTS

FIELD_MANAGER = "naksha"
REQUEST_TIMEOUT_SECONDS = 30.0
UNAUTHORIZED = 401


class KubeError(NakshaError):
    """The API answered with an error; ``status`` and ``reason`` are the API's own."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def retryable(self) -> bool:
        """Throttling and server-side failures pass; anything else will fail again the same way."""
        return self.status == 429 or self.status >= 500


class NotFound(KubeError):
    """404: the object (or its namespace) does not exist."""


class Conflict(KubeError):
    """409: already exists, or the resourceVersion is stale."""


def load_api_client() -> client.ApiClient:
    """An ApiClient with the current credentials (in-cluster in a pod, otherwise the kubeconfig)."""
    return Credentials().api


class Kube:
    """Verbs over plain-dict objects of the kinds in ``naksha.kube.resources``."""

    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        # A given client is used as it is; otherwise the credentials are ours to refresh.
        self.credentials = None if api_client is not None else Credentials()
        self._fixed_api = api_client

    @property
    def api(self) -> client.ApiClient:
        if self.credentials is not None:
            return self.credentials.api
        assert self._fixed_api is not None
        return self._fixed_api

    def get(self, ref: ResourceRef, namespace: str | None, name: str) -> dict[str, Any]:
        return self._call("GET", ref.path(namespace, name))

    def list(
        self, ref: ResourceRef, namespace: str | None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        query = {"labelSelector": label_selector} if label_selector else None
        items = self._call("GET", ref.path(namespace), query=query).get("items") or []
        return [dict(item) for item in items]

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        ref, namespace = self._ref_of(body)
        return self._call("POST", ref.path(namespace), body=body)

    def request_token(
        self, namespace: str, service_account: str, *, audiences: Sequence[str], seconds: int
    ) -> tuple[str, float]:
        """A token of the ServiceAccount for ``audiences``, from the TokenRequest API: (token, expiry)."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"audiences": list(audiences), "expirationSeconds": seconds},
        }
        path = SERVICE_ACCOUNTS.path(namespace, service_account, "token")
        status = self._call("POST", path, body=body).get("status") or {}
        return str(status.get("token") or ""), timestamps.to_seconds(str(status.get("expirationTimestamp")))

    def apply(self, body: Mapping[str, Any], *, field_manager: str = FIELD_MANAGER) -> dict[str, Any]:
        """Server-side apply: create the object or converge the fields this manager owns."""
        ref, namespace = self._ref_of(body)
        name = body["metadata"]["name"]
        return self._call(
            "PATCH",
            ref.path(namespace, name),
            body=body,
            query={"fieldManager": field_manager, "force": "true"},
            content_type="application/apply-patch+yaml",
        )

    def merge_patch(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        *,
        status: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """A JSON merge patch; ``dry_run`` asks the server to validate it and store nothing."""
        return self._call(
            "PATCH",
            ref.path(namespace, name, "status" if status else None),
            body=patch,
            query={"dryRun": "All"} if dry_run else None,
            content_type="application/merge-patch+json",
        )

    def json_patch(
        self, ref: ResourceRef, namespace: str | None, name: str, operations: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """A JSON patch (RFC 6902); a failed ``test`` operation answers 422 and changes nothing."""
        return self._call(
            "PATCH", ref.path(namespace, name), body=operations, content_type="application/json-patch+json"
        )

    def delete(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        *,
        dry_run: bool = False,
        grace_period_seconds: int | None = None,
    ) -> None:
        options: dict[str, Any] = {"propagationPolicy": "Background"}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        with contextlib.suppress(NotFound):
            self._call(
                "DELETE",
                ref.path(namespace, name),
                body=options,
                query={"dryRun": "All"} if dry_run else None,
            )

    def list_with_version(
        self, ref: ResourceRef, namespace: str | None, *, label_selector: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], str]:
        """The items and the list's resourceVersion, where a ``watch`` starts from."""
        query = {"labelSelector": label_selector} if label_selector else None
        answer = self._call("GET", ref.path(namespace), query=query)
        items = [dict(item) for item in answer.get("items") or []]
        return items, str((answer.get("metadata") or {}).get("resourceVersion", ""))

    def watch(
        self,
        ref: ResourceRef,
        namespace: str | None,
        resource_version: str,
        *,
        label_selector: str | None = None,
        timeout_seconds: int = 60,
    ) -> Iterator[dict[str, Any]]:
        """The watch events (``{"type", "object"}``) after ``resource_version`` until the server ends it.

        A 410 (the version is too old) arrives as an ``ERROR`` event: the caller lists again.
        """
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if label_selector:
            query["labelSelector"] = label_selector
        _, url, headers, _, _ = self.api.param_serialize(
            "GET",
            ref.path(namespace),
            query_params=list(query.items()),
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api.rest_client.pool_manager.request(
                "GET", url, headers=headers, preload_content=False, timeout=timeout_seconds + 10.0
            )
        except urllib3.exceptions.HTTPError as error:
            raise RetryableError(f"the Kubernetes API is unreachable: {error}") from error
        try:
            if response.status >= 400:
                raise _translate(response.status, response.read())
            pending = b""
            for chunk in response.stream(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield orjson.loads(line)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise RetryableError(f"the watch ended: {error}") from error
        finally:
            response.release_conn()

    def server_version(self) -> dict[str, Any]:
        """The API server's ``/version`` (``gitVersion``, ``platform``...), for reports."""
        return self._call("GET", "/version")

    def _ref_of(self, body: Mapping[str, Any]) -> tuple[ResourceRef, str | None]:
        ref = resource_for(str(body.get("apiVersion", "")), str(body.get("kind", "")))
        namespace = (body.get("metadata") or {}).get("namespace")
        return ref, namespace

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        encoded = orjson.dumps(body) if body is not None else None
        api = self.api
        response = self._send(api, method, path, encoded, query, content_type)
        if response.status == UNAUTHORIZED and self.credentials is not None:
            # Revoked or rotated under us: load the credentials again and try once more.
            self.credentials.reload(api)
            response = self._send(self.credentials.api, method, path, encoded, query, content_type)
        if response.status >= 400:
            raise _translate(response.status, response.data)
        data: dict[str, Any] = orjson.loads(response.data) if response.data else {}
        return data

    @staticmethod
    def _send(
        api: client.ApiClient,
        method: str,
        path: str,
        body: bytes | None,
        query: Mapping[str, str] | None,
        content_type: str,
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        # The client builds the URL and the Authorization header (refreshing an expiring token
        # first); the body is encoded with orjson, several times cheaper than the client's walk.
        _, url, headers, _, _ = api.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        try:
            return api.rest_client.pool_manager.request(
                method, url, body=body, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
            )
        except urllib3.exceptions.HTTPError as error:
            raise RetryableError(f"the Kubernetes API is unreachable: {error}") from error


def _translate(status: int, payload: Any) -> KubeError:
    try:
        parsed = orjson.loads(payload) if payload else {}
    except (TypeError, ValueError):
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    reason = str(parsed.get("reason") or "Unknown")
    message = str(parsed.get("message") or payload or "")
    if status == 404:
        return NotFound(status, reason, message)
    if status == 409:
        return Conflict(status, reason, message)
    return KubeError(status, reason, message)
