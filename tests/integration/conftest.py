"""Fixtures shared by the integration tests: kubectl, an API client, the CRDs, the Naksha operator."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
from kopf.testing import KopfRunner
from kubernetes import client, config
from tests.support import ROOT, Kubectl, eventually, free_port

from naksha import metrics
from naksha.workloads.identity import REVIEWER_ROLE, REVIEWER_RULES

SIMULATED_WORKER_IMAGE = "example.com/simulated-worker:1"


@pytest.fixture(scope="session")
def kubectl(control_plane: Any) -> Kubectl:
    return Kubectl(Path(control_plane.kubeconfig_path))


@pytest.fixture(scope="session")
def api_client(control_plane: Any) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(control_plane.kubeconfig_path))


@pytest.fixture(scope="session")
def naksha_crds(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(ROOT / "crds"))
    kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd",
        "-l",
        "app.kubernetes.io/part-of=naksha",
    )


@pytest.fixture
def fresh_namespace(api_client: client.ApiClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture
def access_reviewer_role(api_client: client.ApiClient) -> Iterator[str]:
    """The shipped ClusterRole naksha-access-reviewer (``manifests/rbac.yaml``), which the operator
    binds to HTTP push workers so they can review their callers' tokens.

    Removed afterwards when this fixture made it: a cluster-scoped object outlives the test's
    namespace, and a later install of the chart or the manifests must find the cluster as a user's.
    """
    rbac = client.RbacAuthorizationV1Api(api_client)
    body = {"metadata": {"name": REVIEWER_ROLE}, "rules": [rule.as_dict() for rule in REVIEWER_RULES]}
    try:
        rbac.create_cluster_role(body)
        created = True
    except client.ApiException as error:
        if error.status != 409:
            raise
        created = False  # installed already, as shipped (by the manifests a test applied)
    yield REVIEWER_ROLE
    if created:
        rbac.delete_cluster_role(REVIEWER_ROLE)


@pytest.fixture(scope="module")
def naksha_operator(request: pytest.FixtureRequest, control_plane: Any, naksha_crds: None) -> Iterator[int]:
    """The real Naksha operator (kopf runtime, its own handlers); yields its metrics port.

    Worker pods get a simulated image unless the test module names a ``WORKER_IMAGE`` (a
    ``naksha`` image makes the local kubelet run them as real processes); a module's
    ``OPERATOR_ENV`` adds operator settings.
    """
    metrics_port = free_port()
    extra_env: dict[str, str] = getattr(request.module, "OPERATOR_ENV", {})
    saved = {k: os.environ.get(k) for k in ("NAKSHA_METRICS_PORT", "KUBECONFIG", "NAKSHA_IMAGE", *extra_env)}
    os.environ.update(extra_env)
    os.environ["NAKSHA_METRICS_PORT"] = str(metrics_port)
    os.environ["KUBECONFIG"] = str(control_plane.kubeconfig_path)
    os.environ["NAKSHA_IMAGE"] = getattr(request.module, "WORKER_IMAGE", SIMULATED_WORKER_IMAGE)
    import naksha.handlers  # noqa: F401  (registers into kopf's default registry)

    args = [
        "run",
        "--standalone",
        "--all-namespaces",
        "--verbose",
        f"--liveness=http://127.0.0.1:{free_port()}/healthz",
    ]
    with KopfRunner(args, registry=kopf.get_default_registry()) as runner:
        # /metrics starts once per process: a later operator in the same run reuses the first port.
        yield eventually(metrics.serving_port)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    assert runner.exception is None, runner.output
