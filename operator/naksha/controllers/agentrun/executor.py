"""Executor ``job``: the operator starts a Job for the run and watches it until the run ends.

The Job's pod runs the same engine as the operator does, so the run's status is the same
whichever executor drives it. The operator's part is to give the pod an identity (a
ServiceAccount, Role and RoleBinding for this run alone, unless an account of the user's is
configured), to report the run ``Pending`` with the Job's name before the pod can write, to create
the Job (all owned by the run, so deleting the run deletes them), and to end the run ``Failed``
with the Job's reason when the Job gives up (backoff limit or deadline) before the engine could
finish the run itself.
``run_in_process`` is the pod's side: ``naksha agent-run NAME``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from naksha.controllers.agentrun.engine import TERMINAL, Engine
from naksha.controllers.agentrun.recorder import RunGone
from naksha.controllers.agentrun.wpk import registered
from naksha.domain.agentrun.runstate import now_text
from naksha.kube import Conflict, Kube, KubeError, NotFound
from naksha.models.agentrun import AgentRunSpec
from naksha.models.common import parse_duration
from naksha.models.group import API_VERSION
from naksha.models.labels import RUN_LABEL
from naksha.models.resources import AGENT_RUNS, JOBS
from naksha.settings import OperatorSettings
from naksha.workloads.agent import build_executor_job, executor_job_name
from naksha.workloads.identity import build_identity, job_rules

logger = logging.getLogger(__name__)


def ensure_job(kube: Kube, body: dict[str, Any], settings: OperatorSettings) -> str:
    """Give the run's pod its identity, report the run Pending, create the Job unless it exists.

    Returns the Job's name. The Pending status goes out before the Job exists, so the pod's own
    first checkpoint can only come after it; it carries the resourceVersion that was read, so an
    operator restarting while the pod runs never overwrites the pod's progress.
    """
    meta = body["metadata"]
    spec = AgentRunSpec.model_validate(body.get("spec") or {})
    name = executor_job_name(meta["name"])
    owner = {
        "apiVersion": API_VERSION,
        "kind": "AgentRun",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    account = settings.agent_job_service_account
    if not account:
        account = name
        needs = [need for package in registered() for need in package.rbac]
        labels = {"app.kubernetes.io/managed-by": "naksha", RUN_LABEL: meta["name"]}
        for obj in build_identity(
            name=name,
            namespace=meta["namespace"],
            rules=job_rules(meta["name"], spec.target, needs),
            labels=labels,
        ):
            obj["metadata"]["ownerReferences"] = [owner]
            kube.apply(obj)
    if not (body.get("status") or {}).get("phase"):
        _report_pending(kube, body, name)
    job = build_executor_job(
        run=meta["name"],
        namespace=meta["namespace"],
        image=settings.image,
        settings_env=os.environ,
        service_account=account,
        deadline_seconds=int(parse_duration(spec.timeouts.run)),
    )
    job["metadata"]["ownerReferences"] = [owner]
    try:
        kube.create(job)
    except Conflict:
        logger.info("AgentRun %s/%s: Job %s exists already", meta["namespace"], meta["name"], name)
    else:
        logger.info("AgentRun %s/%s: started Job %s", meta["namespace"], meta["name"], name)
    return name


def _report_pending(kube: Kube, body: dict[str, Any], job: str) -> None:
    meta = body["metadata"]
    stamp = now_text()
    message = f"waiting for Job {job} to run the graph"
    status = {
        "phase": "Pending",
        "job": job,
        "message": message,
        "observedGeneration": meta.get("generation"),
        "conditions": [
            {
                "type": "Accepted",
                "status": "True",
                "reason": "SpecValid",
                "message": "The spec is valid.",
                "lastTransitionTime": stamp,
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "JobPending",
                "message": message,
                "lastTransitionTime": stamp,
            },
        ],
    }
    patch = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": status}
    try:
        kube.merge_patch(AGENT_RUNS, meta["namespace"], meta["name"], patch, status=True)
    except Conflict:
        pass  # the run changed since it was read: its engine (or a user) wrote first, which wins
    except NotFound as error:
        raise RunGone(f"AgentRun {meta['namespace']}/{meta['name']} is gone") from error
    except KubeError as error:
        logger.warning("AgentRun %s/%s: reporting Pending failed: %s", meta["namespace"], meta["name"], error)


def job_failure(job: dict[str, Any]) -> str | None:
    """The reason a Job gave up, or None while it may still finish."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return f"{condition.get('reason', 'Failed')}: {condition.get('message', '')}".strip(": ")
    return None


def job_verdict(kube: Kube, body: dict[str, Any], job_name: str, settings: OperatorSettings) -> str | None:
    """One look: the run's final phase once it ended, or ``Failed`` after ending it because its Job
    gave up; None while the Job may still finish it."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    try:
        run = kube.get(AGENT_RUNS, namespace, name)
    except NotFound as error:
        raise RunGone(f"AgentRun {namespace}/{name} is gone") from error
    phase = (run.get("status") or {}).get("phase")
    if phase in TERMINAL:
        return str(phase)
    try:
        job = kube.get(JOBS, namespace, job_name)
    except NotFound:
        ensure_job(kube, run, settings)  # deleted from under the run: start it again; the engine resumes
        return None
    failure = job_failure(job)
    if failure:
        Engine(kube, run, settings=settings).fail(f"the executor Job {job_name} failed ({failure})")
        return "Failed"
    return None


def run_in_process(name: str, namespace: str) -> int:
    """``naksha agent-run``: drive one run to its end; 0 once it ended, 1 if stopped before (Job retries)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    settings = OperatorSettings.from_env()

    def pause(seconds: float) -> None:
        stop.wait(seconds)

    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kube = Kube()
    try:
        body = kube.get(AGENT_RUNS, namespace, name)
    except NotFound:
        logger.warning("AgentRun %s/%s does not exist; nothing to run", namespace, name)
        return 0
    phase = Engine(kube, body, settings=settings, sleep=pause).run_to_end(stopping=stop.is_set)
    logger.info("AgentRun %s/%s: %s", namespace, name, phase)
    return 0 if phase in TERMINAL or not stop.is_set() else 1
