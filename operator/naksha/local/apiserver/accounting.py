"""Requests the emulator served, counted per verb and resource and published at ``/metrics``.

The real API server publishes ``apiserver_request_total``; the emulator does the same, so a
benchmark or a test can measure how many requests a controller needs for a piece of work.
"""

from __future__ import annotations

import collections

from naksha.local.apiserver.requests import Target


class RequestCounter:
    def __init__(self) -> None:
        self.counts: collections.Counter[tuple[str, str, str, int]] = collections.Counter()

    def count(self, method: str, target: Target, *, watch: bool, code: int) -> None:
        verb = method
        if method == "GET" and target.name is None:
            verb = "WATCH" if watch else "LIST"
        self.counts[(verb, target.resource.plural, target.subresource or "", code)] += 1

    def prometheus_text(self) -> str:
        lines = [
            "# HELP apiserver_request_total Requests served, by verb, resource, subresource and code.",
            "# TYPE apiserver_request_total counter",
        ]
        for (verb, resource, subresource, code), count in sorted(self.counts.items()):
            labels = f'verb="{verb}",resource="{resource}",subresource="{subresource}",code="{code}"'
            lines.append(f"apiserver_request_total{{{labels}}} {count}")
        return "\n".join(lines) + "\n"
