"""An insight worker's configuration, read from the environment the operator gives its pod.

The operator (``workloads.insight``) passes the stream's spec as JSON and credentials by
reference; this module turns that back into typed settings and names the variable at fault
when something is missing or malformed, so a misconfigured pod says why in its log.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from naksha.errors import ConfigError
from naksha.models.insightstream import InsightStreamSpec

DEFAULT_PORT = 8010


@dataclass(frozen=True)
class WorkerConfig:
    namespace: str
    stream: str
    worker: str  # the pod name: consumer identity and the key of this worker's status report
    spec: InsightStreamSpec
    http_port: int
    redis_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerConfig:
        env = os.environ if env is None else env
        for name in ("NAKSHA_STREAM_NAME", "NAKSHA_STREAM_NAMESPACE", "NAKSHA_INSIGHT_SPEC"):
            if not env.get(name):
                raise ConfigError(f"{name} is not set (the operator sets it on insight worker pods)")
        try:
            spec = InsightStreamSpec.model_validate(json.loads(env["NAKSHA_INSIGHT_SPEC"]))
        except (ValueError, ValidationError) as error:
            raise ConfigError(f"NAKSHA_INSIGHT_SPEC is not a valid InsightStream spec: {error}") from error
        port_text = env.get("NAKSHA_HTTP_PORT", str(DEFAULT_PORT))
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ConfigError(f"NAKSHA_HTTP_PORT={port_text!r} is not a port number")
        redis_url = None
        if spec.source.redis is not None:
            redis_url = spec.source.redis.url or env.get("NAKSHA_REDIS_URL")
            if not redis_url:
                raise ConfigError(
                    "the redis source takes its URL from urlSecretRef, but NAKSHA_REDIS_URL is empty"
                )
        return cls(
            namespace=env["NAKSHA_STREAM_NAMESPACE"],
            stream=env["NAKSHA_STREAM_NAME"],
            worker=env.get("HOSTNAME") or socket.gethostname(),
            spec=spec,
            http_port=int(port_text),
            redis_url=redis_url,
        )

    @property
    def max_body_bytes(self) -> int:
        http = self.spec.source.http
        return http.max_body_bytes if http is not None else 1_048_576

    @property
    def max_items_per_payload(self) -> int:
        """Records one payload (an HTTP body, a Kafka message, a stream entry) may carry."""
        http = self.spec.source.http
        return http.max_batch if http is not None else 10_000

    @property
    def dead_letter_target(self) -> str | None:
        dead_letter = self.spec.dead_letter
        if not dead_letter.enabled:
            return None
        return dead_letter.topic or f"{self._source_name()}.deadletter"

    def _source_name(self) -> str:
        source = self.spec.source
        if source.kafka is not None:
            return source.kafka.topic
        if source.redis is not None:
            return source.redis.stream
        return f"naksha.{self.stream}"
