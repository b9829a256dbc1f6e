"""Builders of the insight-worker Deployment and Service that serve one InsightStream.

Workers get the stream's spec as JSON in the environment and credentials only by reference
(Secret keys as environment variables, TLS material as mounted Secret files), so no secret
value ever appears in a Deployment object.
"""

from __future__ import annotations

from typing import Any

from naksha.models.common import SecretKeyRef
from naksha.models.insightstream import HttpSource, InsightStreamSpec
from naksha.models.labels import INSIGHT_STREAM_LABEL, SPEC_HASH_ANNOTATION
from naksha.workloads.naming import child_name, common_labels, restricted_security_context, spec_hash

WORKER_PORT = 8010
COMPONENT = "insight-worker"
TLS_MOUNT = "/etc/naksha/kafka-tls"


def worker_name(stream: str) -> str:
    return child_name(stream, "insight")


def worker_labels(stream: str) -> dict[str, str]:
    return {**common_labels(COMPONENT, stream), INSIGHT_STREAM_LABEL: stream}


def worker_selector(stream: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": f"naksha-{COMPONENT}", INSIGHT_STREAM_LABEL: stream}


def build_worker_deployment(
    *, name: str, namespace: str, spec: InsightStreamSpec, image: str, service_account: str | None = None
) -> dict[str, Any]:
    spec_json = spec.model_dump_json(by_alias=True)
    volumes, mounts, tls_env = _tls(spec)
    http = spec.source.http
    scheme = "HTTP"
    if http is not None and http.tls_secret_ref is not None:
        # The ingest port's certificate (e.g. cert-manager's Secret); the probes speak TLS too.
        volumes.append({"name": "ingest-tls", "secret": {"secretName": http.tls_secret_ref.name}})
        mounts.append({"name": "ingest-tls", "mountPath": INGEST_TLS_MOUNT, "readOnly": True})
        scheme = "HTTPS"
    history_env: list[dict[str, Any]] = []
    if spec.source.type == "http":
        # The ring of accepted samples a detector tuner replays: an emptyDir outlives a container
        # restart; its size limit leaves room over the ring's own bound for the segment in writing.
        limit = (http.history.max_bytes if http is not None else HttpSource().history.max_bytes) * 5 // 4
        volumes.append({"name": "history", "emptyDir": {"sizeLimit": str(limit)}})
        mounts.append({"name": "history", "mountPath": HISTORY_MOUNT})
        history_env = [
            {"name": "NAKSHA_HISTORY_DIR", "value": HISTORY_MOUNT},
            {"name": "NAKSHA_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ]
    container: dict[str, Any] = {
        "name": "worker",
        "image": image,
        "args": ["insight-worker"],
        "env": [
            {"name": "NAKSHA_STREAM_NAME", "value": name},
            {"name": "NAKSHA_STREAM_NAMESPACE", "value": namespace},
            {"name": "NAKSHA_INSIGHT_SPEC", "value": spec_json},
            {"name": "NAKSHA_HTTP_PORT", "value": str(_http_port(spec))},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            *_secret_env(spec),
            *tls_env,
            *history_env,
        ],
        "ports": [{"name": "http", "containerPort": _http_port(spec), "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/health", "port": _http_port(spec), "scheme": scheme},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": _http_port(spec), "scheme": scheme},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
        },
        "resources": dict(spec.resources),
        "securityContext": restricted_security_context(),
    }
    if mounts:
        container["volumeMounts"] = mounts
    pod_spec: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": 30}
    if volumes:
        pod_spec["volumes"] = volumes
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    labels = worker_labels(name)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": worker_name(name), "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": worker_selector(name)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {SPEC_HASH_ANNOTATION: spec_hash(spec.model_dump(by_alias=True))},
                },
                "spec": pod_spec,
            },
        },
    }


def build_worker_service(*, name: str, namespace: str, spec: InsightStreamSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": worker_name(name), "namespace": namespace, "labels": worker_labels(name)},
        "spec": {
            "selector": worker_selector(name),
            "ports": [{"name": "http", "port": _http_port(spec), "targetPort": "http", "protocol": "TCP"}],
        },
    }


HISTORY_MOUNT = "/var/lib/naksha/history"
INGEST_TLS_MOUNT = "/etc/naksha/ingest-tls"


def _http_port(spec: InsightStreamSpec) -> int:
    return spec.source.http.port if spec.source.http is not None else WORKER_PORT


def _secret_key_env(variable: str, ref: SecretKeyRef) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def _secret_env(spec: InsightStreamSpec) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    redis = spec.source.redis
    if redis is not None and redis.url_secret_ref is not None:
        env.append(_secret_key_env("NAKSHA_REDIS_URL", redis.url_secret_ref))
    kafka = spec.source.kafka
    if kafka is not None and kafka.sasl is not None:
        secret = kafka.sasl.secret_ref.name
        env.append(_secret_key_env("NAKSHA_KAFKA_SASL_USERNAME", SecretKeyRef(name=secret, key="username")))
        env.append(_secret_key_env("NAKSHA_KAFKA_SASL_PASSWORD", SecretKeyRef(name=secret, key="password")))
    return env


def _tls(spec: InsightStreamSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    kafka = spec.source.kafka
    if kafka is None or kafka.tls is None or not kafka.tls.enabled:
        return [], [], []
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    env: list[dict[str, Any]] = [{"name": "NAKSHA_KAFKA_TLS", "value": "true"}]
    if kafka.tls.insecure_skip_verify:
        env.append({"name": "NAKSHA_KAFKA_TLS_INSECURE", "value": "true"})
    for role, ref in (
        ("ca", kafka.tls.ca_secret_ref),
        ("cert", kafka.tls.cert_secret_ref),
        ("key", kafka.tls.key_secret_ref),
    ):
        if ref is None:
            continue
        volume = f"kafka-tls-{role}"
        volumes.append(
            {"name": volume, "secret": {"secretName": ref.name, "items": [{"key": ref.key, "path": role}]}}
        )
        mounts.append({"name": volume, "mountPath": f"{TLS_MOUNT}/{role}", "readOnly": True})
        env.append({"name": f"NAKSHA_KAFKA_TLS_{role.upper()}_FILE", "value": f"{TLS_MOUNT}/{role}/{role}"})
    return volumes, mounts, env
