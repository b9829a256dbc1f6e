"""The pieces of pod-failure, container-kill and cpu-stress that need no cluster: finding a
container's process, the helper pods' specs, which images no registry serves, the pod phase."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from naksha.local.kubelet.pods import unpullable
from naksha.local.kubelet.podstatus import _phase
from naksha.services.chaos_helper import ContainerNotFound, burn_cpu, kill_container, main_process
from naksha.workloads.chaos import helper_name, kill_pod, stress_pod


def fake_process(proc: Path, pid: int, parent: int, cgroup: str) -> None:
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "cgroup").write_text(cgroup)
    (proc / str(pid) / "stat").write_text(f"{pid} (python (x)) S {parent} 1 1 0")


class TestFindingAContainersProcess:
    def test_the_main_process_is_the_one_whose_parent_is_outside_the_containers_cgroup(self, tmp_path):
        container = "0:kubepods/pod-1/0123abcd\n"
        fake_process(tmp_path, 40, 1, "0::/system.slice/containerd.service\n")
        fake_process(tmp_path, 41, 40, container)  # the container's init, started by the shim
        fake_process(tmp_path, 42, 41, container)  # a child inside the container
        fake_process(tmp_path, 50, 1, "0:kubepods/pod-2/ffff9999\n")
        assert main_process("containerd://0123abcd", tmp_path) == 41

    def test_a_container_with_no_process_on_this_node_is_reported(self, tmp_path):
        fake_process(tmp_path, 50, 1, "0:kubepods/pod-2/ffff9999\n")
        with pytest.raises(ContainerNotFound, match="no process of container"):
            main_process("containerd://0123abcd", tmp_path)

    def test_a_malformed_container_id_is_refused(self, tmp_path):
        with pytest.raises(ContainerNotFound, match="not a container ID"):
            main_process("0123abcd", tmp_path)

    def test_a_local_container_id_names_its_process_and_the_kill_really_ends_it(self):
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            assert kill_container(f"local://{sleeper.pid}") == sleeper.pid
            assert sleeper.wait(timeout=10) == -signal.SIGKILL
        finally:
            sleeper.kill()

    def test_a_local_process_that_is_gone_is_reported(self, tmp_path):
        with pytest.raises(ContainerNotFound, match="is not running"):
            main_process("local://999999", tmp_path)


def worker_cpu(pid: str) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TestTheBurner:
    def test_bad_arguments_are_refused_before_anything_runs(self):
        with pytest.raises(ValueError, match="load between 1 and 100"):
            burn_cpu(1, 0)
        with pytest.raises(ValueError, match="workers must be at least 1"):
            burn_cpu(0, 50)

    def test_the_burner_uses_cpu_and_stops_on_sigterm(self):
        burner = subprocess.Popen(
            [sys.executable, "-m", "naksha", "chaos-helper", "burn-cpu", "--workers", "1", "--load", "100"],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "operator")},
        )
        children = Path(f"/proc/{burner.pid}/task/{burner.pid}/children")
        try:
            deadline = time.monotonic() + 60
            while not children.read_text().split() and time.monotonic() < deadline:
                time.sleep(0.1)  # until its workers run (the interpreter starts slowly on a busy machine)
            (worker,) = children.read_text().split()
            before = worker_cpu(worker)
            time.sleep(1.0)
            busy = worker_cpu(worker) - before
            burner.send_signal(signal.SIGTERM)
            assert burner.wait(timeout=15) == 0
        finally:
            burner.kill()
        assert busy > 0.1, busy  # an idle process uses next to nothing; the machine is shared
        assert not Path(f"/proc/{worker}").exists() or "Z" in Path(f"/proc/{worker}/stat").read_text()


class TestHelperPods:
    def test_a_helper_name_is_stable_per_run_and_target_and_a_valid_label(self):
        first = helper_name("Latency.Spike_Experiment-with-a-very-long-name", "run-3", "web-1", "cpu-stress")
        assert first == helper_name(
            "Latency.Spike_Experiment-with-a-very-long-name", "run-3", "web-1", "cpu-stress"
        )
        assert first != helper_name(
            "Latency.Spike_Experiment-with-a-very-long-name", "run-4", "web-1", "cpu-stress"
        )
        assert len(first) <= 63 and first == first.lower() and "." not in first and "_" not in first

    def test_the_stress_pod_runs_beside_the_target_unprivileged(self):
        pod = stress_pod(
            "s", "ns", experiment="e", run="run-1", node="node-7", image="naksha:1", workers=2, load=60
        )
        (container,) = pod["spec"]["containers"]
        assert pod["spec"]["nodeName"] == "node-7" and pod["spec"]["restartPolicy"] == "Never"
        assert container["args"] == ["chaos-helper", "burn-cpu", "--workers", "2", "--load", "60"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False

    def test_the_kill_pod_sees_the_nodes_processes(self):
        pod = kill_pod(
            "k",
            "ns",
            experiment="e",
            run="run-1",
            node="node-7",
            image="naksha:1",
            container_id="containerd://ab",
        )
        assert pod["spec"]["hostPID"] is True and pod["spec"]["nodeName"] == "node-7"
        assert pod["spec"]["containers"][0]["args"][-2:] == ["--container-id", "containerd://ab"]


class TestImagesOfTheLocalKubelet:
    @pytest.mark.parametrize(
        "image", ["naksha-chaos.invalid/pod-failure:unpullable", "registry.invalid:5000/x"]
    )
    def test_an_image_under_the_invalid_domain_cannot_be_pulled(self, image):
        assert unpullable(image)

    @pytest.mark.parametrize(
        "image", ["naksha", "ghcr.io/naksha-io/naksha:test", "invalid/app:1", "app.invalid"]
    )
    def test_other_images_can(self, image):
        assert not unpullable(image)

    def test_a_container_waiting_for_its_new_image_after_running_leaves_the_pod_running(self):
        waiting = {"state": {"waiting": {"reason": "ImagePullBackOff"}}, "ready": False}
        assert _phase([{**waiting, "lastState": {"terminated": {"exitCode": 137}}}], "Always") == "Running"
        assert _phase([waiting], "Always") == "Pending"  # never ran: still pending
