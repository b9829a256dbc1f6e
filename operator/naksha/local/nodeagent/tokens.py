"""Pod tokens from a real API server's TokenRequest API, as a cluster's kubelet gets them.

The node agent asks ``serviceaccounts/<name>/token`` for a token bound to the pod (``boundObjectRef``:
deleting the pod invalidates it) with the API server's own audience (none named: the server fills
in its ``--api-audiences``, which default to its issuer). The pod runner's shared
``naksha.local.kubelet.credentials`` writes it into the pod's directory and renews it.
"""

from __future__ import annotations

import datetime
from typing import Any

import urllib3

from naksha.local.apiserver import errors
from naksha.local.kubelet.credentials import CredentialsUnavailable
from naksha.local.nodeagent.remote import RemotePodApi


class TokenRequestIssuer:
    """A ``TokenIssuer`` over HTTPS, with the node agent's own connection to the API server."""

    def __init__(self, api: RemotePodApi) -> None:
        self.api = api

    def service_account(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.api.call("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
        except errors.ApiError as error:
            if error.code == 404:
                return None
            raise CredentialsUnavailable(f"reading serviceaccount {namespace}/{name}: {error}") from error
        except (OSError, urllib3.exceptions.HTTPError) as error:  # the API server restarting: retried
            raise CredentialsUnavailable(f"reading serviceaccount {namespace}/{name}: {error}") from error

    def issue(self, account: dict[str, Any], pod: dict[str, Any], seconds: int) -> tuple[str, float]:
        meta = account["metadata"]
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": seconds,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            },
        }
        path = f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{meta['name']}/token"
        try:
            answer = self.api.call("POST", path, request)
        except (errors.ApiError, OSError, urllib3.exceptions.HTTPError) as error:
            raise CredentialsUnavailable(f"token for serviceaccount {meta['name']}: {error}") from error
        status = answer.get("status") or {}
        expiry = datetime.datetime.fromisoformat(str(status["expirationTimestamp"]).replace("Z", "+00:00"))
        return str(status["token"]), expiry.timestamp()
