"""Executor ``job``: before its pod runs anything, the run shows Pending with its Job's name, and
the pod gets a ServiceAccount, Role and RoleBinding of its own, owned by the run.

The operator's image here is simulated (the local kubelet marks such pods Running without a
process), so the Job's pod never starts the engine: what the run shows is the operator's alone.
"""

from __future__ import annotations

from kubernetes import client
from tests.support import eventually
from tests.support.agentruns import agent_run, setup

from naksha.models.group import GROUP, VERSION

OPERATOR_ENV = {"NAKSHA_AGENT_JOB_SERVICE_ACCOUNT": ""}


def test_a_job_run_shows_pending_with_its_job_while_the_pod_has_not_started_the_engine(
    naksha_operator, api_client, fresh_namespace
):
    _, custom = setup(api_client, fresh_namespace, "web")
    custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "agentruns", agent_run("r", "web", executor="job")
    )

    def pending() -> dict:
        status = custom.get_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "agentruns", "r")[
            "status"
        ]
        assert status["phase"] == "Pending" and status["job"] == "r-run"
        return dict(status)

    status = eventually(pending, timeout=30)
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {"Accepted": ("True", "SpecValid"), "Progressing": ("True", "JobPending")}
    assert "Job r-run" in status["message"]


def test_the_job_pod_runs_as_an_account_of_its_own_owned_by_the_run(
    naksha_operator, api_client, fresh_namespace
):
    _, custom = setup(api_client, fresh_namespace, "web")
    run = custom.create_namespaced_custom_object(
        GROUP, VERSION, fresh_namespace, "agentruns", agent_run("r", "web", executor="job")
    )
    batch, core, rbac = (
        client.BatchV1Api(api_client),
        client.CoreV1Api(api_client),
        client.RbacAuthorizationV1Api(api_client),
    )
    job = eventually(lambda: batch.read_namespaced_job("r-run", fresh_namespace), timeout=30)
    assert job.spec.template.spec.service_account_name == "r-run"
    account = core.read_namespaced_service_account("r-run", fresh_namespace)
    role = rbac.read_namespaced_role("r-run", fresh_namespace)
    binding = rbac.read_namespaced_role_binding("r-run", fresh_namespace)
    for obj in (account, role, binding):
        assert [(o.kind, o.uid) for o in obj.metadata.owner_references] == [
            ("AgentRun", run["metadata"]["uid"])
        ]
    assert (binding.role_ref.kind, binding.role_ref.name) == ("Role", "r-run")
    assert [(s.kind, s.name) for s in binding.subjects] == [("ServiceAccount", "r-run")]
    own = {(tuple(r.resources), tuple(r.resource_names or ())) for r in role.rules}
    assert (("agentruns/status",), ("r",)) in own and (("deployments",), ("web",)) in own

    custom.delete_namespaced_custom_object(GROUP, VERSION, fresh_namespace, "agentruns", "r")
    eventually(
        lambda: "r-run" not in {r.metadata.name for r in rbac.list_namespaced_role(fresh_namespace).items}
    )
