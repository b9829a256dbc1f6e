"""Pods on the local control plane each get a network namespace and an address of their own.

Real ``naksha demo-app`` processes, each answering ``GET /`` with its pod's name, are reached from
the host, from inside other pods' namespaces, through a Service's ClusterIP and through the real
``kubectl port-forward``.
"""

from __future__ import annotations

import collections
import ipaddress
import os
import subprocess
from typing import Any

import pytest
from kubernetes import client
from tests.support import eventually, free_port
from tests.support.pods import (
    address_in_use,
    demo_pod,
    get,
    get_from_inside,
    listens,
    needs_namespaces,
    netns_of,
    network_condition,
)

pytestmark = [
    needs_namespaces,
]


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def ready_pods(core: client.CoreV1Api, namespace: str, *names: str) -> list[Any]:
    def ready() -> list[Any]:
        pods = [core.read_namespaced_pod(name, namespace) for name in names]
        assert all(
            any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []) for p in pods
        ), [p.status.conditions for p in pods]
        return pods

    return list(eventually(ready, timeout=60))


def start_pods(core: client.CoreV1Api, namespace: str, *names: str, **container: Any) -> list[Any]:
    for name in names:
        core.create_namespaced_pod(namespace, demo_pod(name, **container))
    return ready_pods(core, namespace, *names)


def test_two_pods_listening_on_the_same_port_both_run_each_at_its_own_address(core, fresh_namespace):
    first, second = start_pods(core, fresh_namespace, "first", "second")

    addresses = [first.status.pod_ip, second.status.pod_ip]
    assert len(set(addresses)) == 2
    for pod in (first, second):
        address = ipaddress.ip_address(pod.status.pod_ip)
        assert address in ipaddress.ip_network("127.0.0.0/8") and str(address) != "127.0.0.1"
        assert [entry.ip for entry in pod.status.pod_ips] == [pod.status.pod_ip]
        assert pod.status.container_statuses[0].restart_count == 0
        assert network_condition(pod).status == "True"
        assert get(f"http://{pod.status.pod_ip}:8080/") == pod.metadata.name


def test_a_pod_reaches_another_pod_at_its_address_and_itself_at_its_own(core, fresh_namespace):
    first, second = start_pods(core, fresh_namespace, "first", "second")

    # Both listen on 8080: without the redirect inside the namespace, the first would reach itself.
    assert get_from_inside(netns_of(first), f"http://{second.status.pod_ip}:8080/") == "second"
    assert get_from_inside(netns_of(first), f"http://{first.status.pod_ip}:8080/") == "first"
    assert get_from_inside(netns_of(first), "http://127.0.0.1:8080/") == "first"


def test_a_pod_reaches_the_api_server_on_the_hosts_loopback(core, fresh_namespace, control_plane):
    (pod,) = start_pods(core, fresh_namespace, "caller")
    # The pod's kubeconfig says 127.0.0.1:<api port>: inside the namespace that is the host's API server.
    answer = get_from_inside(
        netns_of(pod), f"{control_plane.url}/version", pki=control_plane.state_dir / "pki"
    )
    assert '"gitVersion"' in answer


def service(name: str, selector: dict[str, str], port: int = 80, target: Any = "http") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"port": port, "targetPort": target}]},
    }


def test_a_service_spreads_connections_over_its_ready_pods_and_skips_unready_ones(core, fresh_namespace):
    start_pods(core, fresh_namespace, "one", "two")
    # Same labels, but its readiness probe asks a port nothing listens on: never ready.
    core.create_namespaced_pod(
        fresh_namespace,
        demo_pod("never-ready", readinessProbe={"tcpSocket": {"port": 9}, "periodSeconds": 1}),
    )
    core.create_namespaced_service(fresh_namespace, service("demo", {"app": "demo"}))
    svc = eventually(
        lambda: (s := core.read_namespaced_service("demo", fresh_namespace)).spec.cluster_ip and s
    )
    address = svc.spec.cluster_ip
    assert ipaddress.ip_address(address) in ipaddress.ip_network("127.0.0.0/8")
    assert svc.spec.cluster_ips == [address]
    eventually(lambda: core.read_namespaced_pod("never-ready", fresh_namespace).status.phase == "Running")

    answers = collections.Counter(get(f"http://{address}/") for _ in range(40))
    assert set(answers) == {"one", "two"}
    assert min(answers.values()) >= 10  # spread, not all on one pod

    # From inside a pod as well, and a pod that goes away stops getting connections.
    one = core.read_namespaced_pod("one", fresh_namespace)
    assert get_from_inside(netns_of(one), f"http://{address}/") in {"one", "two"}
    core.delete_namespaced_pod("two", fresh_namespace)
    eventually(
        lambda: not any(p.metadata.name == "two" for p in core.list_namespaced_pod(fresh_namespace).items)
    )
    assert {get(f"http://{address}/") for _ in range(10)} == {"one"}


@pytest.mark.parametrize("transport", ["websocket", "spdy"])
def test_kubectl_port_forward_reaches_a_pod_and_a_service(core, fresh_namespace, control_plane, transport):
    start_pods(core, fresh_namespace, "target")
    core.create_namespaced_service(fresh_namespace, service("web", {"app": "demo"}, port=8081))
    eventually(lambda: core.read_namespaced_service("web", fresh_namespace).spec.cluster_ip)
    env = {**os.environ, "KUBECTL_PORT_FORWARD_WEBSOCKETS": "true" if transport == "websocket" else "false"}

    for resource, remote in (("pod/target", 8080), ("service/web", 8081)):
        local = free_port()
        forward = subprocess.Popen(
            ["kubectl", "--kubeconfig", str(control_plane.kubeconfig_path), "-n", fresh_namespace,
             "port-forward", resource, f"{local}:{remote}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            assert eventually(lambda: listens("127.0.0.1", local), timeout=20)  # noqa: B023
            answers = [get(f"http://127.0.0.1:{local}/") for _ in range(3)]
            big = get(f"http://127.0.0.1:{local}/metrics")
        finally:
            forward.terminate()
            out, err = forward.communicate(timeout=10)
        assert answers == ["target"] * 3, (out, err)
        assert "demo_http_requests_total" in big
        assert "Handling connection" in out


def test_kubectl_port_forward_to_a_closed_port_reports_the_error(core, fresh_namespace, control_plane):
    start_pods(core, fresh_namespace, "target")
    local = free_port()
    forward = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(control_plane.kubeconfig_path), "-n", fresh_namespace,
         "port-forward", "pod/target", f"{local}:9"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        eventually(lambda: listens("127.0.0.1", local), timeout=20)
        with pytest.raises(OSError):
            get(f"http://127.0.0.1:{local}/")
    finally:
        forward.terminate()
        _, err = forward.communicate(timeout=10)
    assert "error forwarding port 9" in err


def test_a_deleted_pod_leaves_no_namespace_listener_or_address_behind(core, fresh_namespace):
    (pod,) = start_pods(core, fresh_namespace, "short-lived")
    netns, address = netns_of(pod), pod.status.pod_ip
    assert netns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert address_in_use(address) and listens(address, 8080)

    core.delete_namespaced_pod("short-lived", fresh_namespace)

    def gone() -> bool:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return netns not in listed and not address_in_use(address) and not listens(address, 8080)

    assert eventually(gone, timeout=20)


def test_a_pod_that_names_a_host_endpoint_reaches_it_from_its_namespace(core, fresh_namespace):
    # A host service on 127.0.0.1 (as a broker would be) and a pod told about it in its environment.
    host_port = free_port()
    server = subprocess.Popen(
        ["python3", "-m", "http.server", str(host_port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        eventually(lambda: listens("127.0.0.1", host_port))
        env = [{"name": "UPSTREAM", "value": f"http://127.0.0.1:{host_port}/"}]
        (pod,) = start_pods(core, fresh_namespace, "client", env=env)
        assert "Directory listing" in get_from_inside(netns_of(pod), f"http://127.0.0.1:{host_port}/")
        # A port it was not told about stays its own: nothing of the host leaks in.
        with pytest.raises(AssertionError):
            get_from_inside(netns_of(pod), f"http://127.0.0.1:{free_port()}/")
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_finished_pod_gives_back_its_namespace_and_address_but_keeps_its_status(core, fresh_namespace):
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "once"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "naksha", "args": ["--version"]}],
        },
    }
    core.create_namespaced_pod(fresh_namespace, body)
    pod = eventually(
        lambda: (p := core.read_namespaced_pod("once", fresh_namespace)).status.phase == "Succeeded" and p
    )
    netns, address = netns_of(pod), pod.status.pod_ip

    def released() -> bool:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return netns not in listed and not address_in_use(address)

    assert eventually(released, timeout=20)
    assert core.read_namespaced_pod("once", fresh_namespace).status.pod_ip == address
