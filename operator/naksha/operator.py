"""Run the kopf operator with Naksha's handlers, settings, metrics and liveness endpoint."""

from __future__ import annotations

import logging

import kopf

from naksha.settings import OperatorSettings


def run_operator(*, namespaces: tuple[str, ...] = (), verbose: bool = False) -> int:
    """Block running the operator until SIGINT/SIGTERM; namespaces override NAKSHA_NAMESPACES."""
    config = OperatorSettings.from_env()
    watched = namespaces or config.namespaces
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    logging.getLogger().setLevel(logging.DEBUG if verbose else config.log_level)
    import naksha.handlers  # noqa: F401  (registers the handlers with kopf)

    kopf.run(
        standalone=True,
        clusterwide=not watched,
        namespaces=watched,
        liveness_endpoint=f"http://0.0.0.0:{config.health_port}/healthz",
    )
    return 0
