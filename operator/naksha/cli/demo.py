"""The demo: the whole product on one machine, driven the way a user drives it (real kubectl).

Starts the local control plane, applies the CRDs, starts ``naksha operator`` as its own
process, applies the samples (and one spec that breaks a rule), waits until the operator has
reported on each and the sample Rollout's pods (four ``naksha demo-app`` processes, all on :8080,
each in its own network namespace) are ready, and prints what ``kubectl get naksha -A`` shows.
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
from collections.abc import Iterator, Sequence
from pathlib import Path

from naksha.errors import ConfigError

INVALID_EXAMPLE = """\
# A spec the CRD schema admits but the operator refuses: the trigger names a detector that
# does not exist. The operator reports it as InvalidSpec with that reason.
apiVersion: naksha.io/v1alpha1
kind: InsightStream
metadata:
  name: broken-trigger
  namespace: default
spec:
  source:
    type: http
  detectors:
    - name: latency-spike
      metric: http_request_seconds
      method: ewma
  triggers:
    - name: scale-out
      detector: no-such-detector
      agentRun:
        playbook: scale-out-on-latency
"""


def run_demo(*, state_dir: Path, crds: Path, samples: Path, keep: bool) -> int:
    from naksha.local import LocalControlPlane

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ConfigError("kubectl is not on PATH; install it to run the demo")
    for directory in (crds, samples):
        if not directory.is_dir():
            raise ConfigError(f"{directory} is not a directory; run the demo from the repository root")
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    kubeconfig = state_dir / "kubeconfig"
    with LocalControlPlane(state_dir=state_dir, kubeconfig=kubeconfig, kubelet=True) as plane:
        _say(f"local control plane at {plane.url} (kubeconfig {kubeconfig})")
        run = _kubectl_runner(kubectl, kubeconfig)
        run("apply", "-f", str(crds))
        run(
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd",
            "-l",
            "app.kubernetes.io/part-of=naksha",
        )
        with _operator(kubeconfig, state_dir) as metrics_port:
            run("apply", "-f", str(samples))
            invalid = state_dir / "invalid-example.yaml"
            invalid.write_text(INVALID_EXAMPLE)
            run("apply", "-f", str(invalid))
            run("wait", "--for=condition=Accepted", "--timeout=60s", "-f", str(samples))
            run("wait", "--for=condition=InvalidSpec", "--timeout=60s", "-f", str(invalid))
            _wait_for_ready_pods(kubectl, kubeconfig, "app=checkout")
            run("get", "pods", "-l", "app=checkout", "-o", POD_COLUMNS)
            run("get", "naksha", "-A")
            run(
                "get",
                "insightstream",
                "broken-trigger",
                "-o",
                'jsonpath={.status.conditions[?(@.type=="InvalidSpec")].message}{"\\n"}',
            )
            _say(f"operator metrics: http://127.0.0.1:{metrics_port}/metrics")
            _print_metrics(metrics_port)
            if keep:
                _say(f"running; try: kubectl --kubeconfig {kubeconfig} get naksha -A (Ctrl-C stops)")
                _wait_for_interrupt()
    return 0


POD_COLUMNS = (
    "custom-columns=NAME:.metadata.name,STATUS:.status.phase,IP:.status.podIP,"
    "RESTARTS:.status.containerStatuses[0].restartCount"
)


def _wait_for_ready_pods(kubectl: str, kubeconfig: Path, selector: str, timeout: float = 90.0) -> None:
    """Until every pod of ``selector`` is Ready (and there is one); a clear error when it does not happen."""
    readiness = 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}'
    command = [kubectl, "--kubeconfig", str(kubeconfig), "get", "pods", "-l", selector, "-o", readiness]
    _say(f"waiting for the pods of {selector} to be ready")
    deadline = time.monotonic() + timeout
    states: list[str] = []
    while time.monotonic() < deadline:
        states = subprocess.run(command, capture_output=True, text=True, check=False).stdout.split()
        if states and all(state == "True" for state in states):
            return
        time.sleep(0.5)
    raise ConfigError(f"the pods of {selector} were not ready within {timeout:.0f}s (Ready: {states})")


def _kubectl_runner(kubectl: str, kubeconfig: Path) -> _Kubectl:
    return _Kubectl(kubectl, kubeconfig)


class _Kubectl:
    def __init__(self, binary: str, kubeconfig: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def __call__(self, *args: str) -> None:
        command: Sequence[str] = [self.binary, "--kubeconfig", str(self.kubeconfig), *args]
        _say("$ kubectl " + " ".join(args))
        subprocess.run(command, check=True)


@contextlib.contextmanager
def _operator(kubeconfig: Path, state_dir: Path) -> Iterator[int]:
    metrics_port, health_port = _free_port(), _free_port()
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
        _say(f"operator started (pid {process.pid}, log {log_path})")
        try:
            _wait_for_port(health_port, process)
            yield metrics_port
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"the operator exited with code {process.returncode}; see its log")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise ConfigError(f"the operator did not open its health port {port} within {timeout:.0f}s")


def _print_metrics(port: int) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith(("naksha_reconcile_total", "naksha_resources")):
            print("  " + line)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_interrupt() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)
