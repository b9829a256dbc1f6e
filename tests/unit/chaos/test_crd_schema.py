"""The ChaosExperiment CRD keeps what the operator records in status whole on a real API server."""

from __future__ import annotations

import json

from naksha.models.crdgen import build_crd
from naksha.models.kinds import CHAOS_EXPERIMENT


def test_no_part_of_the_schema_is_an_open_map_a_real_server_would_prune():
    # ``additionalProperties: true`` passes as structural, but a real kube-apiserver then prunes
    # every field nested in its values: a restore step's params lost the spike's labels.
    schema = build_crd(CHAOS_EXPERIMENT)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert '"additionalProperties": true' not in json.dumps(schema)


def test_a_restore_steps_params_are_kept_as_written():
    schema = build_crd(CHAOS_EXPERIMENT)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    current = schema["properties"]["status"]["properties"]["currentRun"]
    params = current["properties"]["restore"]["items"]["properties"]["params"]
    assert params.get("x-kubernetes-preserve-unknown-fields") is True
