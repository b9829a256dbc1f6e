"""What a ChaosExperiment's helper pods run on the target's node (``naksha chaos-helper …``).

- ``burn_cpu``: worker processes that keep a CPU busy ``load`` percent of every 100 ms slice,
  until the pod is deleted (SIGTERM ends them all).
- ``kill_container``: SIGKILL to one container's main process. The process is found from the
  container ID the pod's status reports: ``local://PID`` on the local control plane (its pods are
  processes), otherwise the runtime's ID (``containerd://…``, ``cri-o://…``, ``docker://…``),
  which is part of the cgroup path of every process of that container on a real node; the
  container's main process is the one whose parent is not in the same cgroup. The kubelet then
  sees the container die and restarts it as its pod's ``restartPolicy`` says.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

SLICE_SECONDS = 0.1


class ContainerNotFound(Exception):
    """No process of that container runs on this node."""


def burn_cpu(workers: int, load: int) -> None:
    """Run ``workers`` burners until SIGTERM or SIGINT; returns once they are stopped."""
    if workers < 1 or not 1 <= load <= 100:
        raise ValueError("workers must be at least 1 and load between 1 and 100")
    stop = False

    def stopping(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    # Before the workers start: a pod deleted at once still ends cleanly.
    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    context = multiprocessing.get_context("fork")
    burners = [context.Process(target=_burn, args=(load,), daemon=True) for _ in range(workers)]
    for burner in burners:
        burner.start()
    while not stop and any(burner.is_alive() for burner in burners):
        time.sleep(0.2)
    for burner in burners:
        burner.terminate()
    for burner in burners:
        burner.join(timeout=2)


def _burn(load: int) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    busy = SLICE_SECONDS * load / 100
    while True:
        start = time.perf_counter()
        while time.perf_counter() - start < busy:
            pass  # the spin is the work: it keeps this CPU busy for the load's share of each slice
        idle = SLICE_SECONDS - (time.perf_counter() - start)
        if idle > 0:
            time.sleep(idle)


def main_process(container_id: str, proc: Path = Path("/proc")) -> int:
    """The PID of the container's main process on this node."""
    runtime, _, ident = container_id.partition("://")
    if not ident:
        raise ContainerNotFound(f"not a container ID: {container_id!r} (expected runtime://id)")
    if runtime == "local":
        pid = int(ident)
        if not (proc / str(pid)).exists():
            raise ContainerNotFound(f"process {pid} of container {container_id} is not running")
        return pid
    members: dict[int, int] = {}  # pid -> parent pid, for the processes in that container's cgroup
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if ident not in (entry / "cgroup").read_text():
                continue
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        members[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    roots = sorted(pid for pid, parent in members.items() if parent not in members)
    if not roots:
        raise ContainerNotFound(f"no process of container {container_id} runs on this node")
    return roots[0]


def kill_container(container_id: str, proc: Path = Path("/proc")) -> int:
    """SIGKILL the container's main process; its PID."""
    pid = main_process(container_id, proc)
    os.kill(pid, signal.SIGKILL)
    return pid
