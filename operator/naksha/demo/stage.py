"""The demo's stage: what runs under the scenes, and the handles the scenes act through.

``running_stage`` starts the local control plane (with its kubelet, so ``naksha`` containers are
real processes, each pod in its own network namespace), applies the CRDs with the real kubectl,
starts a tansu broker on loopback and ``naksha operator`` as its own process. Tests build a
``Stage`` over their own control plane, broker and operator instead: the scenes cannot tell.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from naksha.demo.progress import Progress
from naksha.errors import ConfigError
from naksha.kube import Kube
from naksha.local.ports import reserve_port
from naksha.settings import DEFAULT_IMAGE


@dataclass(frozen=True)
class Timings:
    """How long the story gives each thing; the tests' fast settings shorten the waits, not the steps."""

    steady_seconds: float = 4.0  # normal traffic before the surge (past the detector's minSamples)
    wait_seconds: float = 90.0  # the longest any one awaited outcome may take
    poll_seconds: float = 0.5
    # How long scene 4's fault lasts: longer than the AgentRun loop takes to scale checkout back
    # (a second or two), so the experiment's own restore finds that done and leaves it.
    fault_seconds: float = 10.0


@dataclass
class Stage:
    kubeconfig: Path
    namespace: str
    bootstrap: str  # the Kafka-protocol broker's host:port on loopback
    state_dir: Path
    examples: Path  # examples/gitops: the GitOps repository's seed
    progress: Progress
    kube: Kube
    timings: Timings = field(default_factory=Timings)
    image: str = DEFAULT_IMAGE
    urls: dict[str, str] = field(default_factory=dict)  # what --keep prints
    operator: subprocess.Popen[bytes] | None = None  # the operator's process, when the stage runs one
    # What scenes started beside the operator (the hub, an edge agent): stopped with the stage,
    # last started first, so ``--keep`` leaves them running until the end.
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()

    def kubectl(self, *args: str, check: bool = True) -> str:
        """The real kubectl on the stage's cluster; its output (or what it said on stderr when it
        printed nothing else, e.g. "No resources found"), or a clear error with what it said."""
        binary = shutil.which("kubectl")
        if binary is None:
            raise ConfigError("kubectl is not on PATH; install it to run the demo")
        command: Sequence[str] = [binary, "--kubeconfig", str(self.kubeconfig), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if check and result.returncode != 0:
            raise ConfigError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout or result.stderr

    def wait_for(self, what: str, check: object, timeout: float | None = None) -> object:
        """Poll ``check()`` until it returns something truthy; a clear error naming ``what`` otherwise."""
        assert callable(check)
        deadline = time.monotonic() + (timeout or self.timings.wait_seconds)
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(self.timings.poll_seconds)
        raise ConfigError(f"the demo waited {timeout or self.timings.wait_seconds:.0f}s for {what}")


@contextlib.contextmanager
def running_stage(
    *, state_dir: Path, crds: Path, examples: Path, namespace: str, progress: Progress
) -> Iterator[Stage]:
    from kubernetes import config

    from naksha.local import LocalControlPlane
    from naksha.local.tansu import TansuBroker

    for directory in (crds, examples):
        if not directory.is_dir():
            raise ConfigError(f"{directory} is not a directory; run the demo from the repository root")
    if shutil.which("kubectl") is None:
        raise ConfigError("kubectl is not on PATH; install it to run the demo")
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    kubeconfig = state_dir / "kubeconfig"
    # The broker outlives the control plane: stopped first, it would wait for the insight workers'
    # connections (their pods stop with the plane) and be killed after its timeout.
    with (
        TansuBroker(state_dir / "tansu.log") as broker,
        LocalControlPlane(state_dir=state_dir / "plane", kubeconfig=kubeconfig, kubelet=True) as plane,
    ):
        progress.say(f"local control plane at {plane.url}")
        progress.say(f"Kafka-protocol broker (tansu) at {broker.bootstrap}")
        stage = Stage(
            kubeconfig=kubeconfig,
            namespace=namespace,
            bootstrap=broker.bootstrap,
            state_dir=state_dir,
            examples=examples.resolve(),
            progress=progress,
            kube=Kube(config.new_client_from_config(config_file=str(kubeconfig))),  # type: ignore[no-untyped-call]
        )
        stage.kubectl("apply", "-f", str(crds.resolve()))
        stage.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "crd", "-l",
            "app.kubernetes.io/part-of=naksha",
        )  # fmt: skip
        # kubectl cached the API's discovery before the CRDs were served; `get naksha` (a
        # category) would not find them in that cache, so read the resources afresh.
        stage.kubectl("api-resources", "--api-group=naksha.io", "-o", "name")
        progress.say("CRDs applied: " + ", ".join(sorted(p.stem for p in crds.glob("*.yaml"))))
        with _operator(kubeconfig, state_dir) as (process, metrics_port):
            stage.operator = process
            progress.say(f"operator running (pid {process.pid}, log {state_dir / 'operator.log'})")
            stage.urls["operator metrics"] = f"http://127.0.0.1:{metrics_port}/metrics"
            if namespace != "default":
                stage.kubectl("create", "namespace", namespace, check=False)
            try:
                yield stage
            finally:
                stage.close()


@contextlib.contextmanager
def _operator(kubeconfig: Path, state_dir: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    metrics_port, health_port = reserve_port(), reserve_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "NAKSHA_METRICS_PORT": str(metrics_port),
        "NAKSHA_HEALTH_PORT": str(health_port),
    }
    log_path = state_dir / "operator.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "naksha", "operator"], env=env, stdout=log, stderr=log
        )
        try:
            _wait_for_port(health_port, process)
            yield process, metrics_port
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"the operator exited with code {process.returncode}; see its log")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise ConfigError(f"the operator did not open its health port {port} within {timeout:.0f}s")


def wait_for_interrupt(stage: Stage) -> None:
    """Until Ctrl-C or SIGTERM (then everything stops in order), or until the operator has died."""
    from naksha.local.signals import wait_for_stop

    with contextlib.suppress(KeyboardInterrupt):
        wait_for_stop(lambda: stage.operator is None or stage.operator.poll() is None)
