"""The only code that talks to the Kubernetes API (besides kopf itself and the local control plane).

``Kube`` wraps one ``kubernetes`` ApiClient with the few verbs the reconcilers and workers need,
for any kind listed in ``naksha.kube.resources``: get, list, create, apply (server-side),
merge-patch, status patch and delete, with API errors mapped onto Naksha's error tree. Its
credentials (``naksha.kube.auth``) are the ones kopf logs in with; ``naksha.kube.events`` posts
Events with timestamps and counts. ``KubeApi`` is the Protocol of those verbs, for code that
is also run against an in-memory API in fast tests.
"""

from naksha.kube.client import Conflict, Kube, KubeError, NotFound, load_api_client
from naksha.kube.protocol import KubeApi
from naksha.kube.resources import ResourceRef, resource_for

__all__ = [
    "Conflict",
    "Kube",
    "KubeApi",
    "KubeError",
    "NotFound",
    "ResourceRef",
    "load_api_client",
    "resource_for",
]
