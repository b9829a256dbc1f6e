"""What code that talks to the API needs of a client: the verbs of ``Kube``, as a Protocol.

Controllers and the engines type their client as ``KubeApi``, so the decisions they make can be
tested fast against an in-memory implementation (``tests/support/fake_kube.py``) as well as on
the local control plane with the real ``Kube``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from naksha.kube.resources import ResourceRef


class KubeApi(Protocol):
    """The verbs ``naksha.kube.Kube`` offers over plain-dict objects."""

    def get(self, ref: ResourceRef, namespace: str | None, name: str) -> dict[str, Any]: ...

    def list(
        self, ref: ResourceRef, namespace: str | None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]: ...

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def request_token(
        self, namespace: str, service_account: str, *, audiences: Sequence[str], seconds: int
    ) -> tuple[str, float]: ...

    def apply(self, body: Mapping[str, Any], *, field_manager: str = ...) -> dict[str, Any]: ...

    def merge_patch(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        *,
        status: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]: ...

    def json_patch(
        self, ref: ResourceRef, namespace: str | None, name: str, operations: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]: ...

    def delete(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        *,
        dry_run: bool = False,
        grace_period_seconds: int | None = None,
    ) -> None: ...

    def list_with_version(
        self, ref: ResourceRef, namespace: str | None, *, label_selector: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], str]: ...

    def watch(
        self,
        ref: ResourceRef,
        namespace: str | None,
        resource_version: str,
        *,
        label_selector: str | None = None,
        timeout_seconds: int = ...,
    ) -> Iterator[dict[str, Any]]: ...
