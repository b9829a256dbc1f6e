"""Small HTTP reads shared by AgentRun work packages and Rollout analysis: a GET/POST, a PromQL value.

Only ``http`` and ``https`` URLs are accepted (no ``file:`` or other schemes from a spec), bodies
are read up to 1 MiB, and every failure is a ``ProbeError`` naming the URL.
"""

from __future__ import annotations

import json
import math
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
    """The value of an instant query (Prometheus HTTP API): one series' sample, or a scalar.

    None when the query matches no series, or its value is NaN (a ratio over no traffic). A query
    Prometheus rejects (it does not parse, or cannot run) is a ProbeError carrying Prometheus' own
    reason; so is a vector of several series, which the caller would have no way to choose among.
    """
    url = f"{address.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    status, body = http_request(url, timeout=timeout)
    try:
        reply = json.loads(body)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise ProbeError(f"prometheus answered {status} without its JSON envelope: {body[:200]!r}")
    if reply.get("status") != "success":
        kind, reason = reply.get("errorType", "error"), reply.get("error", "no reason given")
        raise ProbeError(f"prometheus refused the query ({kind}, HTTP {status}): {reason}")
    try:
        data = reply["data"]
        if data["resultType"] == "scalar":
            return _number(data["result"][1])
        if data["resultType"] != "vector":
            raise ProbeError(f"prometheus answered a {data['resultType']}, not an instant vector or scalar")
        samples = data["result"]
        if len(samples) > 1:
            raise ProbeError(
                f"the query returned {len(samples)} series; reduce it to one (sum, or a label filter)"
            )
        return _number(samples[0]["value"][1]) if samples else None
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise ProbeError(f"prometheus answered something else than a vector: {error!r}") from None


def _number(text: str) -> float | None:
    value = float(text)
    return None if math.isnan(value) else value
