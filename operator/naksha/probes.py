"""Small HTTP reads shared by AgentRun work packages and Rollout analysis: a GET/POST, a PromQL value.

Only ``http`` and ``https`` URLs are accepted (no ``file:`` or other schemes from a spec), bodies
are read up to 1 MiB, and every failure is a ``ProbeError`` naming the URL.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from naksha.errors import NakshaError

MAX_BODY = 1_048_576


class ProbeError(NakshaError):
    """The endpoint could not be read (refused, timed out, not http, or not what was expected)."""


def http_request(
    url: str, *, timeout: float, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """The status and body of a GET (or a POST when ``data`` is given); HTTP errors are answers too."""
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise ProbeError(f"only http and https URLs are allowed: {url}")
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read(MAX_BODY)
    except urllib.error.HTTPError as error:
        return int(error.code), error.read(65_536)
    except (urllib.error.URLError, OSError) as error:
        raise ProbeError(f"{url}: {error}") from None


def prometheus_value(address: str, query: str, *, timeout: float) -> float | None:
    """The first sample of an instant query (Prometheus HTTP API), or None when it returns none."""
    url = f"{address.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    status, body = http_request(url, timeout=timeout)
    if status != 200:
        raise ProbeError(f"prometheus answered {status}: {body[:200]!r}")
    try:
        samples = json.loads(body).get("data", {}).get("result", [])
        return float(samples[0]["value"][1]) if samples else None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        raise ProbeError(f"prometheus answered something else than a vector: {error}") from None
