"""The shipped samples and what each reaches, and how a test reads refusals out of pod logs.

Shared by the tests that run Naksha as a cluster runs it (its own ServiceAccounts, RBAC enforced).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from kubernetes import client
from tests.support import ROOT, Kubectl

GROUP, VERSION = "naksha.io", "v1alpha1"
SYSTEM = "naksha-system"
SIMULATED = "example.com/simulated:1"
# An authentication or RBAC refusal, in the API server's words. Not every 403 is one: a real API
# server also refuses with 403 writes into a namespace being deleted (an Event about an object of
# an earlier test), which says nothing about Naksha's credentials or rules.
# A 401 status, not a log line's milliseconds ("05:20:59,401") or an access log's byte count
# ('"GET ..." 404 401'): both made this check fail on a log line that denied nothing.
DENIED = re.compile(r"(?<![,.])(?<!\d\d\d )\b401\b|Unauthorized|is forbidden: User|cannot \w+ resource")


def logs(kubectl: Kubectl, namespace: str, selector: str) -> str:
    return kubectl("logs", "-n", namespace, "-l", selector, "--tail=-1", "--prefix").stdout


def denials(text: str) -> list[str]:
    return [line for line in text.splitlines() if DENIED.search(line)]


def simulated_deployment(name: str, replicas: int = 2) -> dict[str, Any]:
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
                "spec": {"containers": [{"name": "app", "image": SIMULATED}]},
            },
        },
    }


def sample(name: str, namespace: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((ROOT / "crds" / "samples" / name).read_text())
    body["metadata"]["namespace"] = namespace
    return body


def get(custom: client.CustomObjectsApi, namespace: str, plural: str, name: str) -> dict[str, Any]:
    return dict(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name))


def condition(obj: dict[str, Any], kind: str) -> tuple[str, str] | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item["type"] == kind:
            return item["status"], item["reason"]
    return None


# What each sample reaches on the local control plane: (plural, check of the object).
EXPECTED = {
    "insightstream.yaml": ("insightstreams", lambda o: condition(o, "Ready") == ("True", "WorkersReady")),
    # Dry run against the Deployment the test creates: observe, no anomaly, decide, done.
    "agentrun.yaml": ("agentruns", lambda o: (o.get("status") or {}).get("phase") == "Succeeded"),
    "rollout.yaml": ("rollouts", lambda o: (o.get("status") or {}).get("phase") == "Healthy"),
    "edgenode.yaml": ("edgenodes", lambda o: condition(o, "Accepted") == ("True", "SpecValid")),
    "modelversion.yaml": ("modelversions", lambda o: condition(o, "Accepted") == ("True", "SpecValid")),
    "chaosexperiment.yaml": ("chaosexperiments", lambda o: condition(o, "Accepted") == ("True", "SpecValid")),
}
