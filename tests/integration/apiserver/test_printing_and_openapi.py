"""What kubectl prints and validates against the local control plane: the real Table columns of
the built-in kinds, and ``kubectl apply -f`` of a ``kind: List`` (validated against /openapi/v2).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from kubernetes import client
from tests.support import Kubectl, eventually


def _starts(header: str) -> list[int]:
    """Where each column begins: columns are at least two spaces apart, words within one are not."""
    return [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", header)]


def columns(output: str) -> list[str]:
    """The header of a ``kubectl get`` table, with multi-word headers (``NOMINATED NODE``) kept whole."""
    header = output.splitlines()[0]
    starts = _starts(header)
    return [header[a:b].strip() for a, b in zip(starts, [*starts[1:], len(header)], strict=True)]


def row(output: str, name: str) -> list[str]:
    """The cells of the row of ``name``, cut at the header's column positions."""
    header, *lines = output.splitlines()
    line = next(line for line in lines if line.split()[0] == name)
    starts = _starts(header)
    return [line[a:b].strip() for a, b in zip(starts, [*starts[1:], len(line)], strict=True)]


def apply_list(kubectl: Kubectl, namespace: str, *items: dict[str, Any], check: bool = True) -> Any:
    document = {"apiVersion": "v1", "kind": "List", "items": list(items)}
    return kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document), check=check)


def deployment(name: str, replicas: int = 2) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]},
            },
        },
    }


class TestApplyingAList:
    def test_every_item_of_a_list_is_applied(self, kubectl, namespace):
        config = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"a": "1"},
        }
        result = apply_list(kubectl, namespace, config, deployment("web"))
        assert (
            "configmap/settings created" in result.stdout and "deployment.apps/web created" in result.stdout
        )
        assert kubectl("get", "cm", "settings", "-n", namespace, "-o", "jsonpath={.data.a}").stdout == "1"

    def test_items_of_a_list_are_validated_against_their_schema(self, kubectl, namespace, naksha_crds):
        node = {
            "apiVersion": "naksha.io/v1alpha1",
            "kind": "EdgeNode",
            "metadata": {"name": "bad"},
            "spec": {"nonsense": 1},
        }
        refused = apply_list(kubectl, namespace, node, check=False)
        assert refused.returncode != 0
        assert 'unknown field "nonsense" in io.naksha.v1alpha1.EdgeNode.spec' in refused.stderr
        assert kubectl("get", "edgenodes", "-n", namespace, "-o", "name").stdout == ""

    def test_openapi_v2_is_served_as_json_with_a_definition_per_kind(self, kubectl, naksha_crds):
        document = json.loads(kubectl("get", "--raw", "/openapi/v2").stdout)
        assert document["swagger"] == "2.0"
        pod = document["definitions"]["io.k8s.api.core.v1.Pod"]
        assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "version": "v1", "kind": "Pod"}]
        stream = document["definitions"]["io.naksha.v1alpha1.InsightStream"]
        assert "spec" in stream["properties"]


class TestTableColumns:
    def test_pods_show_ready_status_restarts_and_age_and_wide_adds_ip_and_node(
        self, api_client, kubectl, namespace
    ):
        core = client.CoreV1Api(api_client)
        core.create_namespaced_pod(
            namespace, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
        )
        eventually(lambda: core.read_namespaced_pod("p", namespace).status.phase == "Running")
        plain = kubectl("get", "pods", "-n", namespace).stdout
        assert columns(plain) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert row(plain, "p")[1:4] == ["1/1", "Running", "0"]
        wide = kubectl("get", "pods", "-n", namespace, "-o", "wide").stdout
        assert columns(wide) == [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES",
        ]
        pod = core.read_namespaced_pod("p", namespace)
        assert row(wide, "p")[5:] == [pod.status.pod_ip, "local-node", "<none>", "<none>"]

    def test_deployments_show_ready_up_to_date_and_available(self, kubectl, namespace):
        kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(deployment("web", replicas=2)))
        eventually(lambda: row(kubectl("get", "deployments", "-n", namespace).stdout, "web")[1] == "2/2")
        plain = kubectl("get", "deployments", "-n", namespace).stdout
        assert columns(plain) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        assert row(plain, "web")[1:4] == ["2/2", "2", "2"]
        wide = kubectl("get", "deployments", "-n", namespace, "-o", "wide").stdout
        assert row(wide, "web")[5:] == ["web", "web:1", "app=web"]

    def test_replicasets_show_desired_current_and_ready(self, api_client, kubectl, namespace):
        labels = {"app": "rs"}
        body = {
            "metadata": {"name": "rs"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "x:1"}]},
                },
            },
        }
        client.AppsV1Api(api_client).create_namespaced_replica_set(namespace, body)
        plain = kubectl("get", "replicasets", "-n", namespace).stdout
        assert columns(plain) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        assert row(plain, "rs")[1] == "3"

    def test_jobs_show_status_completions_and_duration(self, kubectl, namespace):
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "batch"},
            "spec": {
                "parallelism": 2,
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x:1"}]}
                },
            },
        }
        kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(job))
        plain = kubectl("get", "jobs", "-n", namespace).stdout
        assert columns(plain) == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
        assert row(plain, "batch")[1:3] == ["Running", "0/1 of 2"]
        assert columns(kubectl("get", "jobs", "-n", namespace, "-o", "wide").stdout)[5:] == [
            "CONTAINERS",
            "IMAGES",
            "SELECTOR",
        ]

    @pytest.mark.emulator_only(reason="a ClusterIP in 127/8 is the local kubelet's Service proxy")
    def test_services_show_type_addresses_and_ports(self, kubectl, namespace):
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {
                "type": "NodePort",
                "selector": {"app": "web"},
                "ports": [
                    {"name": "http", "port": 80, "protocol": "TCP"},
                    {"name": "tls", "port": 443, "nodePort": 30443, "protocol": "TCP"},
                ],
            },
        }
        kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(service))
        plain = kubectl("get", "services", "-n", namespace).stdout
        assert columns(plain) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
        assert row(plain, "web")[1] == "NodePort"
        assert row(plain, "web")[3:5] == ["<none>", "80/TCP,443:30443/TCP"]
        assert row(kubectl("get", "services", "-n", namespace, "-o", "wide").stdout, "web")[6] == "app=web"
