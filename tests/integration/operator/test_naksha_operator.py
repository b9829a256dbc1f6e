"""The Naksha operator, under the real kopf runtime, on the local control plane.

Covers admission of every kind: accepted specs, generation bumps reflected in
observedGeneration, InvalidSpec with the exact reason and an Event, recovery after a fix,
schema rejection at apply time, metrics, and deletion.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from tests.support import ROOT, eventually

GROUP, VERSION = "naksha.io", "v1alpha1"


def sample(kind_file: str, namespace: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((ROOT / "crds" / "samples" / kind_file).read_text())
    body["metadata"]["namespace"] = namespace
    return body


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item["type"] == type_:
            return dict(item)
    raise LookupError(f"no {type_} condition yet")


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.mark.parametrize("kind_file", sorted(p.name for p in (ROOT / "crds" / "samples").glob("*.yaml")))
def test_every_sample_is_accepted_by_the_operator(naksha_operator, custom, fresh_namespace, kind_file):
    body = sample(kind_file, fresh_namespace)
    plural = body["kind"].lower() + "s"
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, plural, body)

    def accepted() -> dict[str, Any]:
        obj = custom.get_namespaced_custom_object(
            GROUP, VERSION, fresh_namespace, plural, body["metadata"]["name"]
        )
        assert condition(obj, "Accepted")["status"] == "True"
        return dict(obj)

    obj = eventually(accepted)
    # Kinds whose controller has landed move on from Accepted to their own phases (the sample
    # AgentRun targets a Deployment that does not exist here, so it may end Refused, validly; the
    # sample Rollout's first revision is stable at once; the sample ModelVersion trains in a Job
    # whose pod, of a simulated image here, never finishes; the sample ChaosExperiment waits for its
    # cron firing, Idle).
    phases = (
        "Accepted",
        "Progressing",
        "Running",
        "Succeeded",
        "Refused",
        "Healthy",
        "Pending",
        "Training",
        "NotRegistered",
        "Idle",
    )
    assert obj["status"]["phase"] in phases
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"] == 1


def test_a_spec_change_is_reflected_in_observed_generation(naksha_operator, custom, fresh_namespace):
    body = sample("edgenode.yaml", fresh_namespace)
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "edgenodes", body)
    name = body["metadata"]["name"]
    get = lambda: custom.get_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "edgenodes", name)  # noqa: E731
    eventually(lambda: get().get("status", {}).get("observedGeneration") == 1)

    custom.patch_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "edgenodes", name, {"spec": {"heartbeatInterval": "45s"}}
    )
    obj = eventually(lambda: (o := get())["status"].get("observedGeneration") == 2 and o)
    assert obj["metadata"]["generation"] == 2
    assert condition(obj, "Accepted")["observedGeneration"] == 2


def test_an_invalid_spec_gets_the_reason_in_a_condition_and_an_event(
    naksha_operator, custom, api_client, fresh_namespace
):
    body = sample("insightstream.yaml", fresh_namespace)
    body["spec"]["triggers"][0]["detector"] = "no-such-detector"
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "insightstreams", body)
    name = body["metadata"]["name"]
    reason = "spec: trigger 'scale-out' names unknown detector 'no-such-detector'"

    def invalid() -> dict[str, Any]:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "insightstreams", name)
        assert condition(obj, "InvalidSpec")["status"] == "True"
        return dict(obj)

    obj = eventually(invalid)
    assert condition(obj, "InvalidSpec")["message"] == reason
    assert condition(obj, "Accepted")["status"] == "False"
    assert obj["status"]["phase"] == "Invalid"

    core = client.CoreV1Api(api_client)

    def warning_event() -> bool:
        events = core.list_namespaced_event(
            fresh_namespace, field_selector=f"involvedObject.name={name}"
        ).items
        return any(e.type == "Warning" and e.reason == "SpecInvalid" and e.message == reason for e in events)

    eventually(warning_event)

    # Fixing the spec clears InvalidSpec and accepts it.
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        fresh_namespace,
        "insightstreams",
        name,
        {"spec": {"triggers": [{**body["spec"]["triggers"][0], "detector": "p99-latency"}]}},
    )

    def fixed() -> bool:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "insightstreams", name)
        types = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
        return (
            types["Accepted"] == "True" and "InvalidSpec" not in types and obj["status"]["phase"] != "Invalid"
        )

    eventually(fixed)


def test_nonsense_is_rejected_by_the_schema_at_apply_time(
    naksha_crds, kubectl, fresh_namespace, tmp_path: Path
):
    body = sample("insightstream.yaml", fresh_namespace)
    body["spec"]["replicas"] = -1
    body["spec"]["source"]["type"] = "ftp"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(body))
    result = kubectl("apply", "-f", str(path), check=False)
    assert result.returncode != 0
    assert "spec.replicas" in result.stderr
    assert 'Unsupported value: "ftp"' in result.stderr


def test_metrics_count_reconciliations_by_kind_and_result(naksha_operator, custom, fresh_namespace):
    body = sample("chaosexperiment.yaml", fresh_namespace)
    body["spec"]["schedule"] = "61 * * * *"
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "chaosexperiments", body)
    expected = (
        f'naksha_reconcile_total{{kind="ChaosExperiment",namespace="{fresh_namespace}",result="invalid"}} 1.0'
    )

    def scraped() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{naksha_operator}/metrics", timeout=5) as response:
            return expected in response.read().decode()

    eventually(scraped)


def test_deleting_an_object_removes_it(naksha_operator, custom, fresh_namespace):
    body = sample("modelversion.yaml", fresh_namespace)
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "modelversions", body)
    eventually(
        lambda: custom.get_namespaced_custom_object(
            GROUP, VERSION, fresh_namespace, "modelversions", name
        ).get("status")
    )
    custom.delete_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "modelversions", name)

    def gone() -> bool:
        try:
            custom.get_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "modelversions", name)
        except client.ApiException as error:
            return error.status == 404
        return False

    eventually(gone)
