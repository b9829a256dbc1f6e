"""The insight-worker Deployment and Service are built from the spec, with secrets by reference only."""

from __future__ import annotations

import json

from naksha.models.insightstream import InsightStreamSpec
from naksha.workloads.insight import build_worker_deployment, build_worker_service, worker_name
from naksha.workloads.naming import child_name, spec_hash

KAFKA = {
    "source": {
        "type": "kafka",
        "kafka": {
            "bootstrapServers": ["k:9092"],
            "sasl": {"mechanism": "SCRAM-SHA-512", "secretRef": {"name": "kafka-user"}},
            "tls": {"caSecretRef": {"name": "kafka-ca", "key": "ca.crt"}},
        },
    },
    "replicas": 3,
}


def deployment(spec: dict) -> dict:
    return build_worker_deployment(
        name="orders", namespace="shop", spec=InsightStreamSpec.model_validate(spec), image="img:1"
    )


def env_of(deploy: dict) -> dict:
    return {e["name"]: e for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_the_worker_runs_the_insight_worker_command_of_the_operator_image():
    container = deployment(KAFKA)["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["args"]) == ("img:1", ["insight-worker"])
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": 8010, "scheme": "HTTP"}


def test_replicas_and_the_spec_travel_to_the_workers():
    deploy = deployment(KAFKA)
    assert deploy["spec"]["replicas"] == 3
    spec = json.loads(env_of(deploy)["NAKSHA_INSIGHT_SPEC"]["value"])
    assert spec["source"]["kafka"]["bootstrapServers"] == ["k:9092"]


def test_credentials_are_referenced_never_copied():
    deploy = deployment(KAFKA)
    env = env_of(deploy)
    assert env["NAKSHA_KAFKA_SASL_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "kafka-user", "key": "password"}
    }
    volumes = deploy["spec"]["template"]["spec"]["volumes"]
    assert volumes == [
        {
            "name": "kafka-tls-ca",
            "secret": {"secretName": "kafka-ca", "items": [{"key": "ca.crt", "path": "ca"}]},
        }
    ]
    assert env["NAKSHA_KAFKA_TLS_CA_FILE"]["value"] == "/etc/naksha/kafka-tls/ca/ca"


def test_a_spec_change_changes_the_pod_template_so_workers_roll():
    before = deployment(KAFKA)["spec"]["template"]["metadata"]["annotations"]
    after = deployment(
        {**KAFKA, "replicas": 3, "detectors": [{"name": "d", "metric": "m", "method": "ewma"}]}
    )
    assert after["spec"]["template"]["metadata"]["annotations"] != before


def test_the_service_selects_exactly_the_workers_of_this_stream():
    spec = InsightStreamSpec.model_validate({"source": {"type": "http", "http": {"port": 9000}}})
    service = build_worker_service(name="orders", namespace="shop", spec=spec)
    deploy = deployment({"source": {"type": "http", "http": {"port": 9000}}})
    selector = service["spec"]["selector"]
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in selector.items())
    assert service["spec"]["ports"][0]["port"] == 9000
    assert service["metadata"]["name"] == deploy["metadata"]["name"] == worker_name("orders")


def test_long_names_stay_valid_and_distinct():
    first = child_name("a" * 70, "insight")
    second = child_name("a" * 69 + "b", "insight")
    assert len(first) <= 63 and len(second) <= 63
    assert first != second
    assert first.endswith("-insight")


def test_spec_hash_ignores_key_order():
    assert spec_hash({"a": 1, "b": [1, 2]}) == spec_hash({"b": [1, 2], "a": 1})
    assert spec_hash({"a": 1}) != spec_hash({"a": 2})
