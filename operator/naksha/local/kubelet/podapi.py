"""What a pod runner needs from the API: read a ConfigMap or Secret, write a pod's status.

The emulator's ``ObjectService`` provides it in-process; the node agent of a real API server
provides it over HTTPS (``naksha.local.nodeagent.remote``), so one runner serves both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class ResourceCatalog(Protocol):
    def get(self, group: str, version: str, plural: str) -> Any: ...


class PodApi(Protocol):
    @property
    def catalog(self) -> ResourceCatalog: ...

    def get(self, resource: Any, namespace: str, name: str) -> dict[str, Any]: ...

    def patch(
        self,
        resource: Any,
        namespace: str,
        name: str,
        patcher: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]: ...
