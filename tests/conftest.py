"""Session-wide fixtures: one control plane for the whole run, and the ``--e2e``/``--backend`` switches.

``--backend=emulator`` (the default) runs the integration tests on the embedded API emulator;
``--backend=real`` on etcd + kube-apiserver + the controllers + the node agent
(``naksha.local.real``), built by ``make real-apiserver``. Without those binaries the real
backend's tests are skipped with that reason, unless ``NAKSHA_REQUIRE_REAL_BACKEND=1`` (CI),
which builds them first and fails if it cannot.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    parser.addoption(
        "--backend",
        choices=("emulator", "real"),
        default="emulator",
        help="control plane of the integration tests: the API emulator (default) or a real kube-apiserver",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "emulator_only(reason): tests the emulator's own machinery; on the real backend it is "
        "reported as skipped with that reason",
    )
    config.addinivalue_line(
        "markers",
        "real_only(reason): exercises the real control plane itself; runs in the --backend=real pass",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"control plane backend: {config.getoption('--backend')}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    backend = config.getoption("--backend")
    if backend == "real":
        # Tests that use no control plane (workers against brokers, pure helpers) do not depend
        # on the backend: the emulator pass runs them; the real pass leaves them out.
        unrelated = [
            item
            for item in items
            if "control_plane" not in getattr(item, "fixturenames", ())
            and item.get_closest_marker("real_only") is None
        ]
        if unrelated:
            config.hook.pytest_deselected(items=unrelated)
            items[:] = [item for item in items if item not in unrelated]
    other, label = ("emulator_only", "emulator only") if backend == "real" else ("real_only", "real only")
    for item in items:
        marker = item.get_closest_marker(other)
        if marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(pytest.mark.skip(reason=f"{label}: {reason} (see --backend)"))


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """``emulator`` or ``real``: for the tests that adapt to what the real server legitimately does."""
    return str(request.config.getoption("--backend"))


def _start_real_plane(state_dir: Path) -> Any:
    from naksha.local.real import BinariesMissing, RealControlPlane, ensure

    required = os.environ.get("NAKSHA_REQUIRE_REAL_BACKEND") == "1"
    try:
        binaries = ensure(build=required)
    except BinariesMissing as error:
        if required:
            pytest.fail(f"the real backend is required here and could not be built: {error}")
        pytest.skip(f"real backend not available: {error}")
    plane = RealControlPlane(state_dir=state_dir, kubeconfig=state_dir / "kubeconfig", binaries=binaries)
    plane.start()
    return plane


@pytest.fixture(scope="session")
def control_plane(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The control plane of every integration test: the emulator + local kubelet, or the real one.

    Tests isolate themselves by namespace. ``KUBECONFIG`` points at it for child processes, and
    the ``kubernetes`` client's default location is patched because it reads the variable once,
    at import time. Clients take their credentials from its kubeconfig (a bearer token on the
    emulator, client certificates on the real server).
    """
    from kubernetes.config import kube_config

    from naksha.local import LocalControlPlane

    state_dir = tmp_path_factory.mktemp("control-plane")
    plane: Any
    if backend == "real":
        plane = _start_real_plane(state_dir)
    else:
        plane = LocalControlPlane(state_dir=state_dir, kubeconfig=state_dir / "kubeconfig", kubelet=True)
        plane.start()
    saved_env = os.environ.get("KUBECONFIG")
    saved_default = kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    kubeconfig = str(plane.kubeconfig_path)
    os.environ["KUBECONFIG"] = kubeconfig
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = kubeconfig
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
