"""Drives Helm's library (helm-sdkpy, Python >= 3.12) for the chart tests, which run on Python 3.11.

It runs inside the Helm virtualenv as a small JSON-lines server: one request per stdin line
(``{"action": "lint"|"install"|"uninstall"|"list", ...}``), one answer per stdout line
(``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``). One process keeps one
Helm configuration, so releases stored with ``HELM_DRIVER=memory`` survive between requests.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import helm_sdkpy as helm


def handle(request: dict[str, Any], configs: dict[str, Any], kubeconfig: str) -> Any:
    namespace = request.get("namespace", "default")
    config = configs.get(namespace)
    if config is None:
        config = configs[namespace] = helm.Configuration(namespace=namespace, kubeconfig=kubeconfig)
    action = request["action"]
    if action == "lint":
        return asyncio.run(helm.Lint(config).run(request["chart"]))
    if action == "install":
        return asyncio.run(
            helm.Install(config).run(
                request["release"],
                request["chart"],
                values=request.get("values") or None,
                create_namespace=True,
                wait=False,
                timeout=120,
                server_side_apply=bool(request.get("server_side_apply")),
            )
        )
    if action == "uninstall":
        return asyncio.run(helm.Uninstall(config).run(request["release"], wait=False, timeout=60))
    if action == "list":
        return asyncio.run(helm.List(config).run())
    raise ValueError(f"unknown action {action!r}")


def main() -> int:
    kubeconfig = sys.argv[1]
    configs: dict[str, Any] = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = {"ok": True, "result": handle(json.loads(line), configs, kubeconfig)}
        except Exception as error:  # every failure goes back to the test, which decides
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
