"""A thin synchronous client over ``kubernetes.client.ApiClient`` for plain-dict objects.

Synchronous on purpose: kopf runs sync handlers in its thread pool, and workers call it from
an executor, so the event loops are never blocked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import urllib3
from kubernetes import client, config

from naksha.errors import NakshaError, RetryableError
from naksha.kube.resources import ResourceRef, resource_for

FIELD_MANAGER = "naksha"
CONNECTION_POOL_SIZE = 32
REQUEST_TIMEOUT_SECONDS = 30.0


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
    """In-cluster config when running in a pod, otherwise the kubeconfig ($KUBECONFIG or ~/.kube/config)."""
    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(
        config.incluster_config.SERVICE_TOKEN_FILENAME
    ):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG") or None, client_configuration=configuration
        )
    # Enough pooled connections for the threads that share this client (AgentRun steps, handlers).
    configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
    return client.ApiClient(configuration)


class Kube:
    """Verbs over plain-dict objects of the kinds in ``naksha.kube.resources``."""

    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        self.api = api_client or load_api_client()

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

    def delete(self, ref: ResourceRef, namespace: str | None, name: str, *, dry_run: bool = False) -> None:
        with contextlib.suppress(NotFound):
            self._call(
                "DELETE",
                ref.path(namespace, name),
                body={"propagationPolicy": "Background"},
                query={"dryRun": "All"} if dry_run else None,
            )

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
        headers = {"Accept": "application/json", "Content-Type": content_type}
        # The client builds the URL and the auth headers; the body is encoded here with orjson,
        # which is several times cheaper than the client's own walk over large status objects.
        _, url, headers, _, _ = self.api.param_serialize(
            method, path, query_params=list((query or {}).items()), header_params=headers
        )
        try:
            response = self.api.rest_client.pool_manager.request(
                method,
                url,
                body=orjson.dumps(body) if body is not None else None,
                headers=headers,
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except urllib3.exceptions.HTTPError as error:
            raise RetryableError(f"the Kubernetes API is unreachable: {error}") from error
        if response.status >= 400:
            raise _translate(response.status, response.data)
        data: dict[str, Any] = orjson.loads(response.data) if response.data else {}
        return data


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
