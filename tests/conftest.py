"""Session-wide fixtures: one local control plane for the whole run, and the ``--e2e`` switch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--e2e", action="store_true", default=False, help="run the kind + helm end-to-end tests")
    parser.addoption(
        "--kafka",
        choices=("auto", "kafka", "tansu"),
        # CI runs on Apache Kafka, never silently on tansu; elsewhere the best broker available.
        default=os.environ.get("NAKSHA_TEST_KAFKA") or ("kafka" if os.environ.get("CI") else "auto"),
        help="the Kafka-protocol broker of the kafka_broker fixture: Apache Kafka, tansu, or auto "
        "(Apache Kafka when Java and its jars are there; default kafka when $CI is set)",
    )


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The local control plane (API emulator + local kubelet), shared by every integration test.

    Tests isolate themselves by namespace. ``KUBECONFIG`` points at it for child processes, and
    the ``kubernetes`` client's default location is patched because it reads the variable once,
    at import time.
    """
    from kubernetes.config import kube_config

    from naksha.local import LocalControlPlane

    state_dir = tmp_path_factory.mktemp("control-plane")
    plane = LocalControlPlane(state_dir=state_dir, kubeconfig=state_dir / "kubeconfig", kubelet=True)
    plane.start()
    saved_env = os.environ.get("KUBECONFIG")
    saved_default = kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    os.environ["KUBECONFIG"] = str(plane.kubeconfig_path)
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(plane.kubeconfig_path)
    try:
        yield plane
    finally:
        plane.stop()
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = saved_default
        if saved_env is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = saved_env


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[object]:
    """One Kafka-protocol broker per session (``--kafka``: Apache Kafka or tansu); tests use their own topics.

    It has ``bootstrap`` (host:port), ``kind`` (``kafka`` or ``tansu``) and ``idempotent_producer``.
    """
    from tests.support.brokers import kafka_for_tests

    broker = kafka_for_tests(request.config.getoption("--kafka"))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def tansu_broker() -> Iterator[object]:
    """tansu, the embedded Kafka-protocol broker (a pinned wheel, no JVM), for tests that must cover it."""
    from tests.support.brokers import Tansu

    broker = Tansu()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def prometheus_server() -> Iterator[object]:
    """One real Prometheus per session, scraping every second what the tests name (``set_targets``).

    Skipped where prometheus is not installed, except on CI (``$CI``, or
    ``NAKSHA_TEST_PROMETHEUS=required`` as ``.ci/run`` sets), where its absence is a failure.
    """
    from tests.support.prometheus import PrometheusServer, prometheus_binary

    required = bool(os.environ.get("CI")) or os.environ.get("NAKSHA_TEST_PROMETHEUS") == "required"
    if prometheus_binary() is None and not required:
        pytest.skip("prometheus is not installed (make setup installs Debian's package)")
    server = PrometheusServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_broker() -> Iterator[object]:
    """One redis-server per session; tests use their own streams."""
    from tests.support.brokers import RedisServer

    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()
