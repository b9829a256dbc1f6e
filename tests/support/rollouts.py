"""Rollouts on the local control plane: the cluster as tests read and steer it, bodies, a GitOps repo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from tests.support import eventually, git, push_all

from naksha.models.group import GROUP, VERSION

LABELS = {"app": "shop"}


def template(image: str, **container: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": dict(LABELS)},
        "spec": {"containers": [{"name": "app", "image": image, **container}]},
    }


def rollout(name: str, image: str, steps: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": dict(LABELS)},
            "template": template(image),
            "strategy": {"canary": {"steps": steps}},
            **spec,
        },
    }


ANALYSIS = {
    "analysis": {
        "metrics": [
            {
                "name": "errors",
                "provider": {"insight": {"stream": "shop", "detector": "errors"}},
                "interval": "1s",
                "count": 2,
            }
        ]
    }
}


STEPS = [{"setWeight": 25}, ANALYSIS, {"setWeight": 50}, {"pause": {"duration": "1s"}}]


class Cluster:
    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.namespace = namespace

    def create(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, f"{body['kind'].lower()}s", body
        )

    def rollout(self, name: str) -> dict[str, Any]:
        return dict(
            self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, "rollouts", name)
        )

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.rollout(name).get("status") or {})

    def patch(self, name: str, body: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, "rollouts", name, body)

    def set_image(self, name: str, image: str) -> None:
        self.patch(name, {"spec": {"template": template(image)}})

    def annotate(self, name: str, key: str, value: str = "yes") -> None:
        self.patch(name, {"metadata": {"annotations": {key: value}}})

    def detector(self, active: int) -> None:
        self.custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            self.namespace,
            "insightstreams",
            "shop",
            {"status": {"detectors": {"errors": {"active": active}}}},
        )

    def deployment(self, name: str) -> Any:
        return self.apps.read_namespaced_deployment(name, self.namespace)

    def image_of(self, name: str) -> str:
        return str(self.deployment(name).spec.template.spec.containers[0].image)

    def wait_phase(self, name: str, phase: str, timeout: float = 60) -> dict[str, Any]:
        return eventually(lambda: (s := self.status(name)).get("phase") == phase and s, timeout=timeout)


def shop_stream(port: int) -> dict[str, Any]:
    """The InsightStream whose error detector the analyses read (its workers are not needed)."""
    detector = {
        "name": "errors",
        "metric": "errors",
        "method": "threshold",
        "params": {"threshold": {"above": 1}},
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InsightStream",
        "metadata": {"name": "shop"},
        "spec": {"source": {"type": "http", "http": {"port": port}}, "replicas": 0, "detectors": [detector]},
    }


def gitops_repo(tmp_path: Path, namespace: str, *, image: str) -> Path:
    """A bare repository holding the Rollout's manifest as the team pushed it (the new version)."""
    bare = tmp_path / "gitops.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=tmp_path)
    seed = tmp_path / "seed"
    git("clone", "--quiet", str(bare), str(seed), cwd=tmp_path)
    manifest = rollout("shop", image, STEPS)
    manifest["metadata"]["namespace"] = namespace
    (seed / "shop.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    push_all(seed, "shop 2")
    return bare
